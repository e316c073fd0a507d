"""Pick the source that serves each data domain, from settings.

Offline first: with no vendor keys the default is the deterministic `sample` source, so
every capability runs on a fresh machine. Vendor mode asks the vendor registry per domain.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from quant_assets.sources.base import Source

Domain = Literal[
    "ohlcv_listed",
    "ohlcv_crypto",
    "security_events",
    "economic_events",
    "geopolitical_events",
    "macro",
    "news",
]
DOMAINS: tuple[Domain, ...] = (
    "ohlcv_listed",
    "ohlcv_crypto",
    "security_events",
    "economic_events",
    "geopolitical_events",
    "macro",
    "news",
)

# The macro series the platform tracks (FRED ids): inflation, jobs, growth, rates.
MACRO_SERIES: tuple[str, ...] = ("CPIAUCSL", "PAYEMS", "GDP", "UNRATE", "FEDFUNDS", "DGS10")
# Annual World Bank indicators (US real GDP growth, CPI inflation, % a year), asked for when
# World Bank is one of the macro vendors: the long annual history FRED's ids do not cover.
ANNUAL_SERIES: tuple[str, ...] = ("NY.GDP.MKTP.KD.ZG:USA", "FP.CPI.TOTL.ZG:USA")


def macro_series(source: Source) -> tuple[str, ...]:
    """The series ids to ask `source` for: FRED's, plus World Bank's annual ones it serves."""
    names = getattr(source, "names", None) or [source.name]
    return MACRO_SERIES + (ANNUAL_SERIES if "worldbank" in names else ())


def source_for(domain: Domain, mode: str, *, seed: int = 7, files_dir: str | None = None) -> Source:
    """The source for `domain` in `mode` (sample | files | vendor)."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown data domain {domain!r}; known: {DOMAINS}")
    if mode == "sample":
        from quant_assets.sources.sample_market import spec_from
        from quant_assets.universe import load_universe

        return _sample(seed, tuple(spec_from(i) for i in load_universe().instruments))
    if mode == "files":
        from quant_assets.sources.files import FilesSource
        from quant_assets.universe import load_universe

        if not files_dir:
            raise ValueError("source mode 'files' needs QUANT_FILES_DIR")
        # With the universe's symbols, a file of another symbol is reported as outside it.
        return FilesSource(files_dir, universe_symbols=load_universe().symbols)
    if mode == "vendor":
        from quant_assets.sources.registry import vendor_source_for

        return vendor_source_for(domain)
    raise ValueError(f"unknown source mode {mode!r}; expected sample, files or vendor")


@lru_cache(maxsize=4)
def _sample(seed: int, instruments: tuple[object, ...]) -> Source:
    # One instance per seed and universe keeps the generator's per-symbol cache warm across
    # assets; keyed by the universe too, so a process that changes it (QUANT_UNIVERSE) never
    # gets a source generating another universe.
    from quant_assets.sources.sample import SampleSource

    return SampleSource(instruments=instruments, seed=seed)

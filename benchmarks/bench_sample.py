"""Time the offline sample source over the whole universe and 21 years, per domain.

Cold = first call in the process (generation + slicing; domains share caches, so later cold
rows reuse what earlier ones built: market before news). Warm = the same request again.
One-day = a single daily partition after warm-up, what a Dagster partition run asks for.

    .venv/bin/python benchmarks/bench_sample.py [--seed 42]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from quant_assets.sources.sample import MACRO_SERIES, SampleSource, clear_caches
from quant_assets.universe import load_universe

START, END, DAY = dt.date(2005, 1, 3), dt.date(2025, 12, 31), dt.date(2024, 3, 1)


def _timed(fn) -> tuple[float, int]:
    t0 = time.perf_counter()
    frame = fn()
    return time.perf_counter() - t0, len(frame)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    clear_caches()
    instruments = load_universe().instruments
    src = SampleSource(instruments, seed=args.seed)
    symbols = [i.symbol for i in instruments]
    domains = {
        "ohlcv": lambda a, b: src.ohlcv(symbols, a, b),
        "security_events": lambda a, b: src.security_events(symbols, a, b),
        "economic_events": lambda a, b: src.economic_events(a, b),
        "geopolitical_events": lambda a, b: src.geopolitical_events(a, b),
        "macro_observations": lambda a, b: src.macro_observations(list(MACRO_SERIES), a, b),
        "news": lambda a, b: src.news(symbols, a, b),
    }
    print(f"sample source: {len(symbols)} instruments, {START}..{END}, seed {args.seed}")
    print(f"{'domain':<21}{'cold s':>9}{'warm s':>9}{'rows':>10}{'1-day s':>9}{'1-day rows':>11}")
    total_cold = 0.0
    for name, fn in domains.items():
        cold, rows = _timed(lambda fn=fn: fn(START, END))
        warm, _ = _timed(lambda fn=fn: fn(START, END))
        day, day_rows = _timed(lambda fn=fn: fn(DAY, DAY))
        total_cold += cold
        print(f"{name:<21}{cold:>9.2f}{warm:>9.2f}{rows:>10}{day:>9.3f}{day_rows:>11}")
    print(f"{'all domains, cold':<21}{total_cold:>9.2f}")


if __name__ == "__main__":
    main()

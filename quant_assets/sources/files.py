"""A source that reads CSV/Parquet files a user drops into a folder (QUANT_FILES_DIR).

It lets the platform run on data the user already has (a Yahoo/Stooq download, a FRED
CSV, an export from another system) with no vendor keys. Each data domain has its own
sub-folder or file-name prefix; headers are matched through built-in aliases plus an
optional `mapping.yaml` in the folder. Output frames have exactly the warehouse table's
columns, `source='files'`, `is_sample=False`. Layout and mapping: docs/FILES_SOURCE.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import warnings
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quant_assets.schemas.records import article_id_for, conform_frame
from quant_assets.schemas.tables import get_table
from quant_assets.schemas.validation import REASON
from quant_assets.sources.base import SourceError

NAME = "files"
OPEN_END = dt.date(9999, 12, 31)
EXTENSIONS = (".csv", ".csv.gz", ".parquet", ".pq")

FileDomain = Literal[
    "ohlcv", "security_events", "economic_events", "geopolitical_events", "macro", "news"
]
TABLE_OF: dict[FileDomain, str] = {
    "ohlcv": "market_data.ohlcv_daily",
    "security_events": "events.security_events",
    "economic_events": "events.economic_events",
    "geopolitical_events": "events.geopolitical_events",
    "macro": "macro.observations",
    "news": "news.articles",
}

# Built-in header aliases (headers are compared lower-cased, non-alphanumerics -> "_").
# The first alias present wins; a mapping.yaml entry wins over all of them.
ALIASES: dict[FileDomain, dict[str, tuple[str, ...]]] = {
    "ohlcv": {
        "symbol": ("symbol", "ticker", "sym", "code"),
        "date": ("date", "datetime", "timestamp", "time", "day", "trade_date", "unnamed_0", ""),
        "open": ("open", "open_price", "o"),
        "high": ("high", "high_price", "h"),
        "low": ("low", "low_price", "l"),
        "close": ("close", "close_price", "c"),
        "volume": ("volume", "vol", "v"),
        "vwap": ("vwap", "vw"),
    },
    "security_events": {
        "symbol": ("symbol", "ticker", "sym"),
        "event_date": ("event_date", "date", "ex_date", "ex_dividend_date", "report_date"),
        "event_type": ("event_type", "type", "event", "kind"),
        "value": (
            "value",
            "amount",
            "dividend",
            "ratio",
            "split_ratio",
            "eps",
            "eps_actual",
            "actual",
        ),
        "consensus": ("consensus", "eps_estimate", "estimate", "eps_consensus", "expected"),
        "details": ("details", "detail", "notes", "note", "description"),
    },
    "economic_events": {
        "event_code": ("event_code", "code", "event"),
        "name": ("name", "event_name", "title"),
        "country": ("country", "country_code", "region"),
        "release_time": ("release_time", "datetime", "timestamp", "time"),
        "release_date": ("release_date", "date"),
        "period": ("period", "reference_period", "reference"),
        "actual": ("actual",),
        "consensus": ("consensus", "forecast", "estimate", "expected"),
        "previous": ("previous", "prior", "prev"),
        "unit": ("unit", "units"),
    },
    "geopolitical_events": {
        "event_id": ("event_id", "id", "globaleventid"),
        "event_time": ("event_time", "datetime", "timestamp", "time"),
        "event_date": ("event_date", "date"),
        "country": ("country", "country_code", "sourcecountry"),
        "category": ("category", "type", "event_type"),
        "title": ("title", "headline", "name"),
        "severity": ("severity",),
        "tone": ("tone", "avgtone"),
        "url": ("url", "link", "sourceurl"),
    },
    "macro": {
        "series_id": ("series_id", "series", "id", "indicator"),
        "date": ("date", "observation_date"),
        "realtime_start": ("realtime_start", "vintage_date", "vintage", "known_date"),
        "realtime_end": ("realtime_end",),
        "value": ("value",),
    },
    "news": {
        "article_id": ("article_id", "id"),
        "published_at": (
            "published_at",
            "publishedat",
            "published",
            "datetime",
            "timestamp",
            "time",
            "date",
        ),
        "published_date": ("published_date",),
        "title": ("title", "headline"),
        "description": ("description", "summary", "teaser"),
        "url": ("url", "link", "article_url"),
        "publisher": ("publisher", "source_name", "site", "domain"),
        "symbols": ("symbols", "tickers", "symbol", "ticker"),
    },
}

# Column a file name can supply when the file has none ("ohlcv/AAPL.csv" -> symbol AAPL).
KEY_FROM_FILENAME: dict[FileDomain, str] = {
    "ohlcv": "symbol",
    "security_events": "symbol",
    "macro": "series_id",
    "news": "symbols",
}

EVENT_TYPES = {
    "earnings": "earnings", "earning": "earnings", "eps": "earnings",
    "dividend": "dividend", "dividends": "dividend", "div": "dividend", "cash_dividend": "dividend",
    "split": "split", "splits": "split", "stock_split": "split",
}  # fmt: skip


@dataclass(frozen=True)
class FileOutcome:
    """What became of one file in one load."""

    file: str  # path under the files folder
    status: Literal["loaded", "quarantined", "skipped"]
    reason: str = ""
    rows: int = 0  # rows handed to the loader
    rejected: int = 0  # rows refused here, with their original text (ops.quarantine)
    symbols: tuple[str, ...] = ()  # requested symbols the file holds (per-symbol domains)

    @property
    def notable(self) -> bool:
        """Worth a warning: refused, or skipped for a reason the user can fix."""
        routine = ("is served by another feed", "no rows in ")
        return self.status == "quarantined" or (
            self.status == "skipped" and not any(r in self.reason for r in routine)
        )

    def line(self) -> str:
        if self.status == "loaded":
            extra = f", {self.rejected} quarantined" if self.rejected else ""
            return f"{self.file}: loaded {self.rows} rows{extra}"
        return f"{self.file}: {self.status}: {self.reason}"


@dataclass
class FilesReport:
    """Every file of a domain accounted for in one call, plus the rows refused with the
    original text of the rejected value (what the loader writes to ops.quarantine)."""

    domain: str
    table: str
    outcomes: list[FileOutcome]
    rejects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=[REASON]))

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    def lines(self) -> list[str]:
        return [o.line() for o in self.outcomes]

    def refused_symbols(self) -> dict[str, str]:
        """symbol -> why it has no row: every file holding it was refused (`file: reason`).

        This is the source confirming a symbol's absence, unlike a symbol with no file at
        all, which looks the same as a file name the mapping does not match."""
        loaded = {s for o in self.outcomes if o.status == "loaded" for s in o.symbols}
        refused: dict[str, list[str]] = {}
        for o in self.outcomes:
            if o.status == "quarantined":
                for s in o.symbols:
                    if s not in loaded:
                        refused.setdefault(s, []).append(f"{o.file}: {o.reason}")
        return {s: "; ".join(reasons) for s, reasons in sorted(refused.items())}

    def metadata(self) -> dict[str, Any]:
        """JSON-ready counts and one line per file, for asset metadata and logs."""
        return {
            "files_loaded": self.count("loaded"),
            "files_quarantined": self.count("quarantined"),
            "files_skipped": self.count("skipped"),
            "files": self.lines(),
            "files_attention": [o.line() for o in self.outcomes if o.notable],
            "symbols_refused": self.refused_symbols(),
        }


class FilesMapping(BaseModel):
    """The optional `mapping.yaml` at the top of the folder. Every key is optional."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field("UTC", description="zone of naive timestamps")
    exchange_timezone: str = Field("America/New_York", description="for derived release_date")
    date_format: str | None = Field(None, description="strptime format of every file")
    date_formats: dict[str, str] = Field(
        default_factory=dict, description="file name or path under the folder -> strptime format"
    )
    dayfirst: bool | None = Field(None, description="settles 02/01/2024 when a file is ambiguous")
    symbols: dict[str, str] = Field(default_factory=dict, description="file symbol -> canonical")
    columns: dict[FileDomain, dict[str, str]] = Field(default_factory=dict)
    defaults: dict[FileDomain, dict[str, Any]] = Field(default_factory=dict)
    macro_release_lag_days: int | None = Field(None, ge=0)


def _norm(header: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(header).strip().lower()).strip("_")


class FilesSource:
    """Serves every domain from CSV/Parquet files under `root` (see docs/FILES_SOURCE.md)."""

    name = NAME

    def __init__(
        self,
        root: str | Path,
        *,
        mapping: Mapping[str, Any] | None = None,
        universe_symbols: Collection[str] | None = None,
    ):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise SourceError(NAME, f"folder {self.root} does not exist (QUANT_FILES_DIR)")
        self.mapping = self._load_mapping(mapping)
        self.universe_symbols = None if universe_symbols is None else set(universe_symbols)
        self._cache: dict[tuple[str, int, int], pd.DataFrame] = {}
        self._report: FilesReport | None = None

    # --- Source protocol -----------------------------------------------------------
    def ohlcv(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._load("ohlcv", "date", start, end, wanted=set(symbols))

    def security_events(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._load("security_events", "event_date", start, end, wanted=set(symbols))

    def economic_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._load("economic_events", "release_date", start, end)

    def geopolitical_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._load("geopolitical_events", "event_date", start, end)

    def macro_observations(
        self, series_ids: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        return self._load("macro", "realtime_start", start, end, wanted=set(series_ids))

    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Articles tagged with any requested symbol, plus untagged (market-wide) articles."""
        return self._load("news", "published_date", start, end, wanted=set(symbols))

    def take_report(self) -> FilesReport | None:
        """The accounting of the last domain call (every file: loaded, quarantined or
        skipped, with the reason), cleared once taken so it is reported once."""
        report, self._report = self._report, None
        return report

    # --- discovery and reading -------------------------------------------------------
    def files(self, domain: FileDomain) -> list[tuple[Path, str]]:
        """(path, key) of each data file of a domain; key is the file stem minus the prefix."""
        found: list[tuple[Path, str]] = []
        folder = self.root / domain
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file() and _is_data(path):
                    stripped = _strip_prefix(_stem(path), domain)
                    found.append((path, _stem(path) if stripped is None else stripped))
        for path in sorted(self.root.iterdir()):
            if path.is_file() and _is_data(path):
                key = _strip_prefix(_stem(path), domain)
                if key is not None:
                    found.append((path, key))
        return found

    def _load(
        self,
        domain: FileDomain,
        date_column: str,
        start: dt.date,
        end: dt.date,
        *,
        wanted: set[str] | None = None,
    ) -> pd.DataFrame:
        """Every file of the domain, each accounted for; rows of start..end for `wanted`."""
        table = TABLE_OF[domain]
        frames: list[pd.DataFrame] = []
        outcomes: list[FileOutcome] = []
        rejects: list[pd.DataFrame] = []
        for path, key in self.files(domain):
            name = self._relative(path)
            skip = self._skip_reason(domain, path, key, wanted)
            if skip is not None:
                outcomes.append(FileOutcome(name, "skipped", skip))
                continue
            try:
                frame, bad = self._parse(domain, path, key, self._read(path))
            except SourceError as exc:
                reason = _bare_reason(exc, path)
                held = self._file_symbols(domain, path, key, wanted)
                outcomes.append(FileOutcome(name, "quarantined", reason, symbols=held))
                rejects.append(_file_reject(name, reason))
                continue
            everything = frame
            frame = self._requested(domain, frame, wanted)
            if len(everything) and not len(frame):
                outcomes.append(FileOutcome(name, "skipped", self._unrequested(domain, everything)))
                continue
            covered = frame[date_column].dropna()
            frame = _window(frame, date_column, start, end)
            bad = _window(bad, "_date", start, end) if len(bad) else bad
            if not len(frame) and not len(bad):
                span = f"; the file covers {min(covered)}..{max(covered)}" if len(covered) else ""
                outcomes.append(FileOutcome(name, "skipped", f"no rows in {start}..{end}{span}"))
                continue
            bad = bad.drop(columns=["_date"])
            held = tuple(sorted({str(v) for v in frame["symbol"].dropna()})) if (
                KEY_FROM_FILENAME.get(domain) == "symbol"
            ) else ()  # fmt: skip
            outcomes.append(
                FileOutcome(name, "loaded", "", rows=len(frame), rejected=len(bad), symbols=held)
            )
            frames.append(frame)
            if len(bad):
                rejects.append(bad)
        frames = [f for f in frames if len(f)]
        self._report = FilesReport(
            domain,
            table,
            outcomes,
            pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(columns=[REASON]),
        )
        if not frames:
            return conform_frame(pd.DataFrame(columns=get_table(table).column_names), table)
        return pd.concat(frames, ignore_index=True)

    def _relative(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def _skip_reason(
        self, domain: FileDomain, path: Path, key: str, wanted: set[str] | None
    ) -> str | None:
        """Why a per-symbol file is not read for this call (None: read it)."""
        if wanted is None or KEY_FROM_FILENAME.get(domain) != "symbol" or not key:
            return None
        symbol = self._canonical(key)
        if symbol in wanted:
            return None
        try:
            if self._has_column(path, domain, "symbol"):
                return None  # its rows carry their own symbols
        except SourceError:
            return None  # unreadable: _parse quarantines it with the reason
        if self.universe_symbols is not None and symbol not in self.universe_symbols:
            hint = "" if symbol != key else "; map the file name in mapping.yaml under symbols:"
            return f"symbol {symbol!r} is not in the universe{hint}"
        return f"symbol {symbol!r} is served by another feed"

    def _file_symbols(
        self, domain: FileDomain, path: Path, key: str, wanted: set[str] | None
    ) -> tuple[str, ...]:
        """The requested symbols a refused per-symbol file was for: those of its symbol
        column when it can be read, else the symbol its name maps to."""
        if KEY_FROM_FILENAME.get(domain) != "symbol":
            return ()
        held: set[str] = set()
        try:
            raw = self._read(path)
            column = next(
                (h for h, t in self._header_map(domain, raw.columns).items() if t == "symbol"),
                None,
            )
        except SourceError:
            raw, column = None, None
        if raw is not None and column is not None:
            held = {self._canonical(str(v).strip()) for v in raw[column].dropna()}
        elif key:
            held = {self._canonical(key)}
        return tuple(sorted(held if wanted is None else held & wanted))

    def _unrequested(self, domain: FileDomain, frame: pd.DataFrame) -> str:
        column = {"macro": "series_id", "news": "symbols"}.get(domain, "symbol")
        found = sorted({str(v) for v in frame[column].dropna()})[:10]
        if domain == "news":
            return "no article tagged with a requested symbol"
        outside = [
            f for f in found if self.universe_symbols is not None and f not in self.universe_symbols
        ]
        what = "series" if domain == "macro" else "symbol"
        note = (
            f"; not in the universe: {', '.join(outside)}" if outside and domain != "macro" else ""
        )
        return f"no rows for a requested {what} (file has: {', '.join(found)}){note}"

    def _requested(
        self, domain: FileDomain, frame: pd.DataFrame, wanted: set[str] | None
    ) -> pd.DataFrame:
        if wanted is None:
            return frame
        if domain in ("ohlcv", "security_events"):
            return frame[frame["symbol"].isin(wanted) | frame["symbol"].isna()]
        if domain == "macro":
            return frame[frame["series_id"].isin(wanted)]
        if domain == "news":
            keep = [
                not tags or bool(wanted.intersection(tags.split(",")))
                for tags in frame["symbols"].fillna("")
            ]
            return frame[pd.Series(keep, index=frame.index, dtype=bool)]
        return frame

    def _read(self, path: Path) -> pd.DataFrame:
        stat = path.stat()
        cache_key = (str(path), stat.st_mtime_ns, stat.st_size)
        if cache_key not in self._cache:
            try:
                if path.name.lower().endswith((".parquet", ".pq")):
                    raw = pd.read_parquet(path)
                    if isinstance(raw.index, pd.DatetimeIndex) and raw.index.name is None:
                        raw.index.name = "date"  # a frame saved with its date index
                    if not isinstance(raw.index, pd.RangeIndex):
                        raw = raw.reset_index()
                else:
                    # Only empty cells are missing: "n/a" or "inf" stay text, so a refused row
                    # is quarantined with the value as written.
                    raw = pd.read_csv(
                        path, dtype=str, skipinitialspace=True, keep_default_na=False,
                        na_values=[""],
                    )  # fmt: skip
            except Exception as exc:
                raise SourceError(NAME, f"{path}: cannot read file: {exc}") from exc
            self._cache[cache_key] = raw
        return self._cache[cache_key]

    def _has_column(self, path: Path, domain: FileDomain, column: str) -> bool:
        return column in self._header_map(domain, self._read(path).columns).values()

    def _canonical(self, symbol: str) -> str:
        return (
            self.mapping.symbols.get(symbol)
            or self.mapping.symbols.get(symbol.upper())
            or symbol.upper()
        )

    # --- mapping a file to the table ---------------------------------------------------
    def _header_map(self, domain: FileDomain, headers: Sequence[Any]) -> dict[Any, str]:
        """file header -> table column, user mapping first, then aliases in priority order."""
        user = {_norm(k): v for k, v in self.mapping.columns.get(domain, {}).items()}
        by_norm: dict[str, Any] = {}
        for h in headers:
            by_norm.setdefault(_norm(h), h)
        out: dict[Any, str] = {}
        for norm, target in user.items():
            if norm in by_norm:
                out[by_norm[norm]] = target
        taken = set(out.values())
        for target, aliases in ALIASES[domain].items():
            if target in taken:
                continue
            for alias in aliases:
                header = by_norm.get(alias)
                if header is not None and header not in out:
                    out[header] = target
                    taken.add(target)
                    break
        return out

    def _parse(
        self, domain: FileDomain, path: Path, key: str, raw: pd.DataFrame
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(rows for the table, rejected rows with their original text and reason).

        A problem with the whole file (a missing column, ambiguous dates, bars that are not
        daily) raises SourceError; `_load` quarantines the file and reads the others."""
        table = get_table(TABLE_OF[domain])
        header_map = self._header_map(domain, list(raw.columns))
        cols: dict[str, pd.Series] = {
            target: raw[header].reset_index(drop=True) for header, target in header_map.items()
        }
        n = len(raw)
        if domain == "macro":
            cols, n = self._melt_macro(raw, header_map, cols, key)
        raw_row = pd.Series(np.arange(n) % max(len(raw), 1), dtype=int)
        for column, value in self.mapping.defaults.get(domain, {}).items():
            cols.setdefault(column, pd.Series([value] * n, dtype=object))
        key_col = KEY_FROM_FILENAME.get(domain)
        if key_col and key_col not in cols and key:
            cols[key_col] = pd.Series([self._canonical(key)] * n, dtype=object)
        elif key_col in ("symbol", "series_id") and key_col in cols:
            cols[key_col] = cols[key_col].map(
                lambda s: self._canonical(str(s).strip()) if pd.notna(s) else None
            )

        m = self.mapping
        reasons = pd.Series([None] * n, dtype=object)
        original = {c: cols[c].copy() for c in cols}
        stamps: pd.Series | None = None
        for col in table.columns:
            if col.name not in cols or col.type not in ("timestamp", "date"):
                continue
            fmt = self._date_format(path, col.name, cols[col.name])
            if col.type == "timestamp":
                cols[col.name] = _timestamps(cols[col.name], m.timezone, fmt=fmt, dayfirst=False)
                unread = cols[col.name].isna()
            else:
                parsed = _parse_datetimes(cols[col.name], fmt, False)
                if domain == "ohlcv" and col.name == "date":
                    stamps = parsed
                cols[col.name] = _dates(cols[col.name], parsed, fmt)
                unread = cols[col.name].isna()
            if not col.nullable:
                _refuse_unread(reasons, original[col.name], unread, col.name, "a date")
        for col in table.columns:
            if col.name in cols and col.type in ("double", "bigint"):
                text = original.get(col.name, cols[col.name])
                number = pd.to_numeric(cols[col.name], errors="coerce").astype(float)
                if not col.nullable:
                    _refuse_unread(reasons, text, ~np.isfinite(number), col.name, "a finite number")
                cols[col.name] = number.where(np.isfinite(number))
        if domain == "ohlcv" and stamps is not None and "symbol" in cols:
            _check_daily(cols["symbol"], stamps, reasons.isna())
        self._derive(domain, cols, n, path)

        missing = [
            c.name
            for c in table.columns
            if not c.nullable and c.name not in cols and c.name not in ("source", "is_sample")
        ]
        if missing:
            hint = f"; map your header in {self.root / 'mapping.yaml'} under columns.{domain}"
            found = ", ".join(map(str, raw.columns))
            raise SourceError(
                NAME,
                f"{path}: missing required column {missing[0]!r} (file has: {found}){hint}",
                field=missing[0],
            )
        data = {
            c.name: cols.get(c.name, pd.Series([None] * n, dtype=object)) for c in table.columns
        }
        data["source"] = pd.Series([NAME] * n, dtype=object)
        data["is_sample"] = pd.Series([False] * n, dtype=bool)
        frame = conform_frame(
            pd.DataFrame({k: v.reset_index(drop=True) for k, v in data.items()}), table.fqn
        )
        refused = reasons.notna().to_numpy()
        bad = raw.iloc[raw_row[refused].to_numpy()].reset_index(drop=True).astype(object)
        bad = bad.where(bad.notna(), None)
        bad.insert(0, "line", (raw_row[refused].to_numpy() + 2).tolist())  # header is line 1
        bad.insert(0, "file", self._relative(path))
        bad[REASON] = reasons[refused].to_numpy()
        date_col = table.date_column
        bad["_date"] = frame[date_col][refused].to_numpy() if date_col in frame else None
        return frame[~refused].reset_index(drop=True), bad.reset_index(drop=True)

    def _date_format(self, path: Path, column: str, values: pd.Series) -> str | None:
        """The one format of a date column in this file: declared, else inferred from all rows."""
        m = self.mapping
        name = self._relative(path)
        declared = m.date_formats.get(name) or m.date_formats.get(path.name) or m.date_format
        if declared is not None or pd.api.types.is_datetime64_any_dtype(values):
            return declared
        return infer_date_format(values, dayfirst=m.dayfirst, where=f"column {column!r}", file=name)

    def _melt_macro(
        self, raw: pd.DataFrame, header_map: dict[Any, str], cols: dict[str, pd.Series], key: str
    ) -> tuple[dict[str, pd.Series], int]:
        """FRED-style files: `DATE,CPIAUCSL[,UNRATE...]` -> one row per (series, date)."""
        if "value" in cols:
            return cols, len(raw)
        series_cols = [h for h in raw.columns if h not in header_map]
        if not series_cols or "series_id" in cols:
            return cols, len(raw)
        parts = []
        for header in series_cols:
            part = dict(cols)
            part["value"] = raw[header].reset_index(drop=True)
            series = (
                key
                if (len(series_cols) == 1 and key and _norm(key) == _norm(header))
                else str(header)
            )
            part["series_id"] = pd.Series([self._canonical(series)] * len(raw), dtype=object)
            parts.append(pd.DataFrame(part))
        melted = pd.concat(parts, ignore_index=True)
        return {c: melted[c] for c in melted.columns}, len(melted)

    def _derive(self, domain: FileDomain, cols: dict[str, pd.Series], n: int, path: Path) -> None:
        """Columns a file may leave out because they follow from others (documented)."""
        m = self.mapping
        if domain == "security_events" and "event_type" in cols:
            cols["event_type"] = cols["event_type"].map(
                lambda v: EVENT_TYPES.get(_norm(v), _norm(v)) if pd.notna(v) else None
            )
        elif domain == "economic_events":
            if "name" not in cols and "event_code" in cols:
                cols["name"] = cols["event_code"]
            if "release_date" not in cols and "release_time" in cols:
                local = cols["release_time"].dt.tz_convert(m.exchange_timezone)
                cols["release_date"] = _date_objects(local)
        elif domain == "geopolitical_events":
            if "category" in cols:
                cols["category"] = cols["category"].map(lambda v: _norm(v) if pd.notna(v) else None)
            if "event_date" not in cols and "event_time" in cols:
                cols["event_date"] = _date_objects(cols["event_time"])
            if "event_id" not in cols and "event_time" in cols and "title" in cols:
                cols["event_id"] = pd.Series(
                    [
                        hashlib.sha1(
                            f"{t.isoformat() if pd.notna(t) else ''}|{title}".encode()
                        ).hexdigest()
                        for t, title in zip(cols["event_time"], cols["title"], strict=True)
                    ],
                    dtype=object,
                )
        elif domain == "macro":
            if "realtime_end" not in cols:
                cols["realtime_end"] = pd.Series([OPEN_END] * n, dtype=object)
            if (
                "realtime_start" not in cols
                and "date" in cols
                and m.macro_release_lag_days is not None
            ):
                lag = dt.timedelta(days=m.macro_release_lag_days)
                cols["realtime_start"] = cols["date"].map(
                    lambda d: d + lag if d is not None else None
                )
            if "realtime_start" not in cols:
                raise SourceError(
                    NAME,
                    f"{path}: missing required column 'realtime_start' (the first day each value "
                    "was known); add it, or set macro_release_lag_days in mapping.yaml to derive "
                    "it as date + N days",
                    field="realtime_start",
                )
        elif domain == "news":
            if "published_date" not in cols and "published_at" in cols:
                cols["published_date"] = _date_objects(cols["published_at"])
            if "article_id" not in cols and "url" in cols:
                cols["article_id"] = cols["url"].map(
                    lambda u: article_id_for(str(u)) if pd.notna(u) else None
                )
            if "symbols" in cols:
                cols["symbols"] = cols["symbols"].map(self._symbol_list)

    def _symbol_list(self, value: Any) -> str | None:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return None
        parts = [self._canonical(p) for p in re.split(r"[,;|\s]+", str(value)) if p]
        return ",".join(parts) or None

    def _load_mapping(self, override: Mapping[str, Any] | None) -> FilesMapping:
        data: dict[str, Any] = {}
        path = self.root / "mapping.yaml"
        if path.exists():
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as exc:
                raise SourceError(NAME, f"{path}: not valid YAML: {exc}") from exc
        data.update(override or {})
        try:
            return FilesMapping.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"]))
            raise SourceError(NAME, f"{path}: {where}: {first['msg']}", field=where) from None


# --- helpers ------------------------------------------------------------------------


def _is_data(path: Path) -> bool:
    return path.name.lower().endswith(EXTENSIONS) and not path.name.startswith((".", "~"))


def _stem(path: Path) -> str:
    name = path.name
    for ext in sorted(EXTENSIONS, key=len, reverse=True):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return path.stem


def _strip_prefix(stem: str, domain: str) -> str | None:
    """'ohlcv_AAPL' -> 'AAPL', 'ohlcv' -> '', 'AAPL' -> None (not this domain's file)."""
    if stem.lower() == domain:
        return ""
    for sep in "_-.":
        if stem.lower().startswith(domain + sep):
            return stem[len(domain) + 1 :]
    return None


def _parse_datetimes(values: pd.Series, fmt: str | None, dayfirst: bool) -> pd.Series:
    """Vectorised parse; values the inferred format misses are retried one by one."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            parsed = pd.to_datetime(values, errors="coerce", format=fmt, dayfirst=dayfirst)
        except (ValueError, TypeError):
            parsed = None
    if parsed is None or not pd.api.types.is_datetime64_any_dtype(parsed):
        # Mixed offsets: parse each value (an object series of Timestamps).
        each = [_one_datetime(v, fmt, dayfirst) for v in values]
        return pd.Series(each, dtype=object, index=values.index)
    failed = parsed.isna() & values.notna()
    if fmt is not None or not failed.any():
        return parsed
    # Values in another format than the inferred one: retry only those, one by one.
    retried = {i: _one_datetime(values[i], fmt, dayfirst) for i in values.index[failed]}
    if all(pd.isna(t) for t in retried.values()):
        return parsed
    combined = pd.Series(list(parsed), dtype=object, index=values.index)
    for i, ts in retried.items():
        combined[i] = ts
    return combined


def _one_datetime(value: Any, fmt: str | None, dayfirst: bool) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return pd.NaT
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pd.to_datetime(value, format=fmt, dayfirst=dayfirst)
    except (ValueError, TypeError, OverflowError):
        return pd.NaT


def _timestamps(values: pd.Series, tz: str, fmt: str | None, dayfirst: bool) -> pd.Series:
    """UTC instants; naive values are read in `tz` (mapping.yaml `timezone`)."""
    parsed = _parse_datetimes(values, fmt, dayfirst)
    if pd.api.types.is_datetime64_any_dtype(parsed):
        if parsed.dt.tz is None:
            parsed = parsed.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        return parsed.dt.tz_convert("UTC")
    out = []
    for ts in parsed:
        if pd.isna(ts):
            out.append(pd.NaT)
        elif ts.tzinfo is None:
            out.append(ts.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC"))
        else:
            out.append(ts.tz_convert("UTC"))
    return pd.Series(pd.to_datetime(out, utc=True), index=values.index)


def _dates(values: pd.Series, parsed: pd.Series, fmt: str | None) -> pd.Series:
    """Calendar dates as written (the date part; an aware value keeps its own local date).

    Dates beyond pandas' timestamps (the open vintage end 9999-12-31) are read with the
    same format by the standard library."""
    if values.map(lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime)).all():
        return values.astype(object)
    out = _date_objects(parsed)
    for i in np.flatnonzero(out.isna().to_numpy() & values.notna().to_numpy()):
        out.iloc[i] = _stdlib_date(values.iloc[i], fmt)
    return out


def _stdlib_date(value: Any, fmt: str | None) -> dt.date | None:
    text = str(value).strip()
    try:
        if fmt in (None, "ISO8601"):
            return dt.date.fromisoformat(text[:10]) if len(text) >= 10 else None
        return dt.datetime.strptime(text, fmt).date()
    except ValueError:
        return None


def _date_objects(stamps: pd.Series) -> pd.Series:
    return pd.Series(
        [None if pd.isna(t) else t.date() for t in stamps], dtype=object, index=stamps.index
    )


def _window(frame: pd.DataFrame, column: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Rows dated start..end inclusive; undated rows stay so the loader quarantines them."""
    dates = frame[column]
    keep = dates.isna() | dates.map(lambda d: d is not None and start <= d <= end)
    return frame[keep.astype(bool)].reset_index(drop=True)


# Formats tried on a date column, all rows at once; ISO 8601 also reads times and offsets.
DATE_FORMATS: tuple[str, ...] = (
    "ISO8601",
    "%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y", "%d/%m/%y",
    "%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y", "%d.%m.%y", "%d-%m-%Y", "%m-%d-%Y", "%Y/%m/%d", "%Y%m%d",
    "%d-%b-%Y", "%d %b %Y", "%b %d, %Y", "%d-%b-%y",
)  # fmt: skip


def infer_date_format(
    values: pd.Series, *, dayfirst: bool | None, where: str, file: str = "<file>"
) -> str:
    """The one format that reads the most values of a column; every value is read with it.

    Two formats that read as many values but disagree on one (02/01/2012: 1 February or
    2 January) make the file ambiguous: refused, unless `dayfirst` settles it, with a
    message saying how to declare the format. Reading value by value in whatever format
    fits would mix orders inside a file."""
    text = values.dropna().astype(str).str.strip()
    text = text[text != ""]
    if text.empty:
        return "ISO8601"
    sample = text.drop_duplicates()
    results: dict[str, pd.Series] = {}
    for fmt in DATE_FORMATS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                parsed = pd.to_datetime(sample, format=fmt, errors="coerce", utc=fmt == "ISO8601")
            except (ValueError, TypeError):
                continue
        results[fmt] = parsed
    counts = {fmt: int(p.notna().sum()) for fmt, p in results.items()}
    best = max(counts.values(), default=0)
    if best == 0:
        raise SourceError(
            NAME,
            f"{where}: no known date format reads its values (e.g. {sample.iloc[0]!r}); declare "
            f"it in mapping.yaml, e.g. date_formats: {{{file}: '%d/%m/%Y'}}",
        )
    tied = [fmt for fmt, c in counts.items() if c == best]
    first = tied[0]
    disagree = [fmt for fmt in tied[1:] if not _same_dates(results[first], results[fmt])]
    if not disagree:
        return first
    if dayfirst is not None:
        prefer = [f for f in tied if f.startswith("%d") == dayfirst]
        if prefer:
            return prefer[0]
    other = disagree[0]
    both = results[first].notna() & results[other].notna()
    differs = both & (results[first].dt.date != results[other].dt.date)
    example = sample[differs].iloc[0]
    a, b = results[first][differs].iloc[0].date(), results[other][differs].iloc[0].date()
    raise SourceError(
        NAME,
        f"{where}: ambiguous dates: {example!r} reads as {a} ({first}) and as {b} ({other}), "
        f"and no value tells them apart; declare the format in mapping.yaml: "
        f"date_formats: {{{file}: '{first}'}} (or '{other}'), or dayfirst: true / false "
        "for every file",
    )


def _same_dates(a: pd.Series, b: pd.Series) -> bool:
    both = a.notna() & b.notna()
    return bool((a[both].dt.date == b[both].dt.date).all())


def _refuse_unread(
    reasons: pd.Series, text: pd.Series, unread: pd.Series, column: str, what: str
) -> None:
    """Record `column: cannot read 'inf' as a finite number` for non-empty unreadable values."""
    for i in np.flatnonzero(np.asarray(unread, dtype=bool)):
        value = text.iloc[i]
        if value is None or (not isinstance(value, str) and pd.isna(value) and not _is_inf(value)):
            continue  # empty: the loader quarantines it as null
        if isinstance(value, str) and not value.strip():
            continue
        reason = f"{column}: cannot read {_original(value)!r} as {what}"
        reasons.iloc[i] = reason if reasons.iloc[i] is None else f"{reasons.iloc[i]}; {reason}"


def _is_inf(value: Any) -> bool:
    return isinstance(value, float | np.floating) and np.isinf(value)


def _original(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _file_reject(name: str, reason: str) -> pd.DataFrame:
    """One ops.quarantine row standing for a whole refused file."""
    return pd.DataFrame({"file": [name], REASON: [f"file refused: {reason}"]})


MAX_DAILY_GAP_DAYS = 4  # a daily series' median gap is 1 day (24/7) or 1-3 (weekdays)
MIN_BARS_FOR_FREQUENCY = 6  # fewer bars say too little about their frequency


def _check_daily(symbols: pd.Series, stamps: pd.Series, usable: pd.Series) -> None:
    """Refuse a file whose bars are not daily: several per day, or a day every week or more."""
    ts = pd.to_datetime(pd.Series(list(stamps), dtype=object), utc=True, errors="coerce")
    frame = pd.DataFrame({"symbol": symbols.to_numpy(), "ts": ts.to_numpy()})[
        np.asarray(usable, dtype=bool) & ts.notna().to_numpy()
    ]
    if frame.empty:
        return
    local = pd.Series(list(stamps), dtype=object)[frame.index]
    frame = frame.assign(day=[pd.Timestamp(t).date() for t in local])
    repeated = frame[frame.duplicated(["symbol", "day"], keep=False)]
    if len(repeated):
        first = repeated.sort_values("ts").head(2)["ts"].tolist()
        raise SourceError(
            NAME,
            f"intraday bars: {len(repeated)} rows share a day with another (e.g. {first[0]} and "
            f"{first[1]}); the platform takes one bar per day: resample to daily first "
            "(open first, high max, low min, close last, volume sum)",
            field="date",
        )
    for symbol, g in frame.groupby("symbol"):
        days = sorted(g["day"])
        if len(days) < MIN_BARS_FOR_FREQUENCY:
            continue
        gap = float(np.median(np.diff([d.toordinal() for d in days])))
        if gap > MAX_DAILY_GAP_DAYS:
            kind = _frequency_name(gap)
            raise SourceError(
                NAME,
                f"bars are {kind}, not daily (symbol {symbol}: median {gap:g} days between "
                f"bars, {days[0]}..{days[-1]}); the platform takes daily bars",
                symbol=str(symbol),
                field="date",
            )


def _frequency_name(gap: float) -> str:
    if gap <= 10:
        return "weekly"
    if gap <= 45:
        return "monthly"
    if gap <= 120:
        return "quarterly"
    return f"{gap:g}-day"


def _bare_reason(exc: SourceError, path: Path) -> str:
    """The error's message without the vendor prefix, file path and (symbol=, field=) suffix,
    which the file's accounting line already shows."""
    text = str(exc).removeprefix(f"[{NAME}] ").removeprefix(f"{path}: ")
    where = ", ".join(f"{k}={v}" for k, v in (("symbol", exc.symbol), ("field", exc.field)) if v)
    return text.removesuffix(f" ({where})") if where else text

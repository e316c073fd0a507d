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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quant_assets.schemas.records import article_id_for, conform_frame
from quant_assets.schemas.tables import get_table
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


class FilesMapping(BaseModel):
    """The optional `mapping.yaml` at the top of the folder. Every key is optional."""

    model_config = ConfigDict(extra="forbid")

    timezone: str = Field("UTC", description="zone of naive timestamps")
    exchange_timezone: str = Field("America/New_York", description="for derived release_date")
    date_format: str | None = Field(None, description="strptime format; default inferred")
    dayfirst: bool = False
    symbols: dict[str, str] = Field(default_factory=dict, description="file symbol -> canonical")
    columns: dict[FileDomain, dict[str, str]] = Field(default_factory=dict)
    defaults: dict[FileDomain, dict[str, Any]] = Field(default_factory=dict)
    macro_release_lag_days: int | None = Field(None, ge=0)


def _norm(header: Any) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(header).strip().lower()).strip("_")


class FilesSource:
    """Serves every domain from CSV/Parquet files under `root` (see docs/FILES_SOURCE.md)."""

    name = NAME

    def __init__(self, root: str | Path, *, mapping: Mapping[str, Any] | None = None):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise SourceError(NAME, f"folder {self.root} does not exist (QUANT_FILES_DIR)")
        self.mapping = self._load_mapping(mapping)
        self._cache: dict[tuple[str, int, int], pd.DataFrame] = {}

    # --- Source protocol -----------------------------------------------------------
    def ohlcv(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        frame = self._domain("ohlcv", wanted=set(symbols))
        return _window(frame[frame["symbol"].isin(set(symbols))], "date", start, end)

    def security_events(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        frame = self._domain("security_events", wanted=set(symbols))
        return _window(frame[frame["symbol"].isin(set(symbols))], "event_date", start, end)

    def economic_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        return _window(self._domain("economic_events"), "release_date", start, end)

    def geopolitical_events(self, start: dt.date, end: dt.date) -> pd.DataFrame:
        return _window(self._domain("geopolitical_events"), "event_date", start, end)

    def macro_observations(
        self, series_ids: Sequence[str], start: dt.date, end: dt.date
    ) -> pd.DataFrame:
        frame = self._domain("macro")
        return _window(
            frame[frame["series_id"].isin(set(series_ids))], "realtime_start", start, end
        )

    def news(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Articles tagged with any requested symbol, plus untagged (market-wide) articles."""
        frame = self._domain("news")
        wanted = set(symbols)
        keep = [
            not tags or bool(wanted.intersection(tags.split(",")))
            for tags in frame["symbols"].fillna("")
        ]
        return _window(
            frame[pd.Series(keep, index=frame.index, dtype=bool)], "published_date", start, end
        )

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

    def _domain(self, domain: FileDomain, wanted: set[str] | None = None) -> pd.DataFrame:
        table = TABLE_OF[domain]
        frames = []
        for path, key in self.files(domain):
            # Skip a per-symbol file of a symbol nobody asked for (unless its rows carry symbols).
            file_symbol = self._canonical(key) if key else None
            if (
                wanted is not None
                and KEY_FROM_FILENAME.get(domain) == "symbol"
                and file_symbol
                and file_symbol not in wanted
                and not self._has_column(path, domain, "symbol")
            ):
                continue
            frames.append(self._parse(domain, path, key, self._read(path)))
        frames = [f for f in frames if len(f)]
        if not frames:
            return conform_frame(pd.DataFrame(columns=get_table(table).column_names), table)
        return pd.concat(frames, ignore_index=True)

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
                    raw = pd.read_csv(path, dtype=str, skipinitialspace=True)
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

    def _parse(self, domain: FileDomain, path: Path, key: str, raw: pd.DataFrame) -> pd.DataFrame:
        table = get_table(TABLE_OF[domain])
        header_map = self._header_map(domain, list(raw.columns))
        cols: dict[str, pd.Series] = {
            target: raw[header].reset_index(drop=True) for header, target in header_map.items()
        }
        n = len(raw)
        if domain == "macro":
            cols, n = self._melt_macro(raw, header_map, cols, key)
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
        parse_dates = dict(fmt=m.date_format, dayfirst=m.dayfirst)
        for col in table.columns:
            if col.name in cols and col.type == "timestamp":
                cols[col.name] = _timestamps(cols[col.name], m.timezone, **parse_dates)
            elif col.name in cols and col.type == "date":
                cols[col.name] = _dates(cols[col.name], **parse_dates)
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
        frame = pd.DataFrame({k: v.reset_index(drop=True) for k, v in data.items()})
        return conform_frame(frame, table.fqn)

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


def _dates(values: pd.Series, fmt: str | None, dayfirst: bool) -> pd.Series:
    """Calendar dates as written (the date part; an aware value keeps its own local date)."""
    if values.map(lambda v: isinstance(v, dt.date) and not isinstance(v, dt.datetime)).all():
        return values.astype(object)
    return _date_objects(_parse_datetimes(values, fmt, dayfirst))


def _date_objects(stamps: pd.Series) -> pd.Series:
    return pd.Series(
        [None if pd.isna(t) else t.date() for t in stamps], dtype=object, index=stamps.index
    )


def _window(frame: pd.DataFrame, column: str, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Rows dated start..end inclusive; undated rows stay so the loader quarantines them."""
    dates = frame[column]
    keep = dates.isna() | dates.map(lambda d: d is not None and start <= d <= end)
    return frame[keep.astype(bool)].reset_index(drop=True)

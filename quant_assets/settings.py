"""Every environment variable, path and secret of the platform, read once and validated.

One place to read the environment means no module reads `os.environ` or a secret itself,
a bad value fails at start-up with the variable's name instead of deep inside a run, and
secrets (SecretStr, passwords inside URLs) never reach a repr or a log line.
The table of variables lives in docs/ENVIRONMENT.md.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import typing
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SourceMode = Literal["auto", "sample", "files", "vendor"]
EffectiveSource = Literal["sample", "files", "vendor"]
BrokerMode = Literal["dry_run", "paper", "live"]
Broker = Literal["alpaca", "ibkr", "ccxt"]
Environment = Literal["local", "production"]
DbtTarget = Literal["duckdb", "postgres"]

ENV_PREFIX = "QUANT_"
MIN_API_KEY_LENGTH = 16
WAREHOUSE_SCHEMES = ("duckdb", "postgresql", "postgres")
VENDOR_KEY_FIELDS = (
    "polygon_api_key",
    "alphavantage_api_key",
    "fred_api_key",
    "newsapi_api_key",
    "coingecko_api_key",
    "binance_api_key",
)


class SettingsError(ValueError):
    """Invalid configuration; the message names each environment variable and its value."""


def _env(name: str) -> Any:
    """A field read from the conventional unprefixed name first, then QUANT_<name>."""
    return Field(None, validation_alias=AliasChoices(name, f"{ENV_PREFIX}{name}"))


def _is_secret(field_name: str) -> bool:
    annotation = Settings.model_fields[field_name].annotation
    return annotation is SecretStr or SecretStr in typing.get_args(annotation)


# A URL's userinfo password: everything between "user:" and the last "@" of the token,
# so a raw "@" or "/" in the password is masked too. Works on malformed URLs (bad port,
# no host) because it never parses them.
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#]*):(?P<pw>[^\s]*)@")
# Key-like query-string or key=value parameters (password=, api_key=, token=, ...).
_KEYLIKE = re.compile(
    r"(?P<head>(?:^|[?&;\s,])[\w.\-]*(?:password|passwd|pwd|secret|token|api[_\-]?key|apikey"
    r"|access[_\-]?key|auth|signature|sig|key)=)(?P<value>[^&#;\s,]*)",
    re.IGNORECASE,
)
MASK = "***"


def mask_secrets(text: str | None) -> str | None:
    """`text` with URL passwords and key-like parameter values replaced by `***`.

    Applied to every URL `quant settings` shows and every settings error message, so a
    secret never reaches a terminal or a log even when the URL does not parse.
    """
    if not text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _KEYLIKE.sub(lambda m: f"{m['head']}{MASK}" if m["value"] else m[0], text)


def _mask_url(url: str | None) -> str | None:
    """The URL with any password (userinfo or query string) replaced, safe to print."""
    return mask_secrets(url)


class Settings(BaseSettings):
    """The platform's configuration. Build with `get_settings()`; tests may call `load()`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )

    # --- paths and storage -------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="root of every local file; made absolute")
    warehouse_url: str = Field("", description="duckdb:///<path> or postgresql://user@host:port/db")
    dagster_home: Path | None = Field(
        None,
        validation_alias=AliasChoices("DAGSTER_HOME", f"{ENV_PREFIX}DAGSTER_HOME"),
        description="Dagster instance directory",
    )
    reports_dir: Path | None = Field(None, description="where SOD/EOD reports are written")
    files_dir: Path | None = Field(None, description="folder the files source reads")
    mlflow_tracking_uri: str = Field(
        "",
        validation_alias=AliasChoices(f"{ENV_PREFIX}MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="MLflow tracking store",
    )
    redis_url: str | None = Field(None, description="optional cache and event stream")
    redis_key_prefix: str = Field("quant", description="prefix of every Redis key")
    environment: Environment = "local"

    # --- sources -------------------------------------------------------------------
    source_mode: SourceMode = "auto"
    sample_seed: int = 7
    sample_start: dt.date = dt.date(2005, 1, 3)
    ml_refit_days: int = Field(
        7, ge=0, description="`quant main` refits a model spec whose last fit is this many days old"
    )

    polygon_api_key: SecretStr | None = _env("POLYGON_API_KEY")
    alphavantage_api_key: SecretStr | None = _env("ALPHAVANTAGE_API_KEY")
    fred_api_key: SecretStr | None = _env("FRED_API_KEY")
    newsapi_api_key: SecretStr | None = _env("NEWSAPI_API_KEY")
    coingecko_api_key: SecretStr | None = _env("COINGECKO_API_KEY")
    binance_api_key: SecretStr | None = _env("BINANCE_API_KEY")
    binance_api_secret: SecretStr | None = _env("BINANCE_API_SECRET")

    # --- email ---------------------------------------------------------------------
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_sender: str | None = None
    smtp_recipients: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- execution -----------------------------------------------------------------
    broker_mode: BrokerMode = "dry_run"
    live_alpaca: bool = False
    live_ibkr: bool = False
    live_ccxt: bool = False
    kill_switch: bool = False
    alpaca_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices(
            "APCA_API_KEY_ID", "ALPACA_API_KEY", f"{ENV_PREFIX}ALPACA_API_KEY"
        ),
    )
    alpaca_secret_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices(
            "APCA_API_SECRET_KEY", "ALPACA_SECRET_KEY", f"{ENV_PREFIX}ALPACA_SECRET_KEY"
        ),
    )
    ibkr_host: str = "127.0.0.1"
    ibkr_port: int = Field(7497, ge=1, le=65535)
    ibkr_client_id: int = 1
    # Routing by asset class: paper | alpaca | ibkr | ccxt:<exchange id> | none (refused).
    route_equity: str = Field(
        "paper", description="broker for stocks (and ETFs unless QUANT_ROUTE_ETF)"
    )
    route_etf: str | None = Field(None, description="broker for ETFs; unset: QUANT_ROUTE_EQUITY")
    route_crypto: str = Field("paper", description="broker for crypto, e.g. ccxt:binance or alpaca")
    # Approval of the day's order set: auto (dry_run/paper only) or manual (default for live).
    approval: Literal["auto", "manual"] | None = Field(
        None, description="unset: auto for dry_run and paper, manual for live"
    )
    approval_expiry: dt.time = Field(
        dt.time(9, 25), description="unapproved orders expire at this time of the next session"
    )
    approval_timezone: str = "America/New_York"
    alpaca_url: str | None = Field(
        None, description="Alpaca REST base URL override (tests, proxies)"
    )
    ccxt_url: str | None = Field(
        None, description="ccxt exchange REST host override (tests, proxies)"
    )
    package_timeout_s: float = Field(
        30.0, gt=0, description="multi-leg: seconds for every leg to fill"
    )

    # --- HTTP API ------------------------------------------------------------------
    api_keys: SecretStr | None = Field(
        None, description="comma-separated keys accepted in the X-API-Key header"
    )

    # --- LLM inquiry (quant ask / chat, the Ask page, /v1/ask) ---------------------------
    llm_provider: Literal["offline", "openai", "anthropic"] = Field(
        "offline", description="offline (bundled SmolLM2, no key), openai (any compatible URL)"
    )
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible or Anthropic base URL (default: the vendor's)"
    )
    llm_model: str | None = Field(None, description="model name sent to the provider")
    llm_api_key: SecretStr | None = Field(None, description="the provider's key (secret)")
    llm_tool_mode: Literal["auto", "native", "select"] = Field(
        "auto", description="native tool calls, or schema-constrained selection (offline: select)"
    )
    llm_max_tokens: int = Field(20_000, gt=0, description="token budget of one conversation")
    llm_max_seconds: float = Field(120.0, gt=0, description="time budget of one conversation")
    llm_max_tool_calls: int = Field(6, gt=0, description="tool calls per question at most")
    llm_query_row_limit: int = Field(200, gt=0, le=10_000, description="query tool row limit")
    llm_query_timeout_s: float = Field(5.0, gt=0, description="query tool time limit")
    llm_request_timeout_s: float = Field(60.0, gt=0, description="one provider call at most")
    llm_conversations_url: str | None = Field(
        None, description="where conversations are stored (default: see docs/LLM.md)"
    )

    @field_validator("llm_api_key", "llm_base_url", "llm_model", mode="before")
    @classmethod
    def _llm_blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    # --- distributed compute (training, sweeps, walk-forward, Monte Carlo) ------------
    compute: Literal["local", "ray"] = Field(
        "local", description="engine of heavy domain functions: local (no Ray import) or ray"
    )
    compute_workers: int = Field(1, ge=1, description="threads of the local engine")
    ray_address: str | None = Field(
        None, description="Ray cluster for QUANT_COMPUTE=ray: host:port, ray://host:10001, auto"
    )
    ray_task_cpus: float = Field(1.0, gt=0, description="CPUs each Ray task reserves")

    # --- the user's own configuration files (the packaged ones are the default) --------
    universe_path: Path | None = Field(
        None,
        validation_alias=AliasChoices(f"{ENV_PREFIX}UNIVERSE", "universe_path"),
        description="the user's universe.yaml (default: the packaged one)",
    )
    strategies_dir: Path | None = Field(
        None,
        validation_alias=AliasChoices(f"{ENV_PREFIX}STRATEGIES", "strategies_dir"),
        description="folder of the user's strategy *.yaml files (default: the packaged library)",
    )
    model_specs_path: Path | None = Field(
        None,
        validation_alias=AliasChoices(f"{ENV_PREFIX}MODEL_SPECS", "model_specs_path"),
        description="the user's model specs YAML (default: the packaged ml/specs.yaml)",
    )

    vendor_priority: Annotated[dict[str, list[str]], NoDecode] = Field(
        default_factory=dict,
        description="per data domain, vendors in order: "
        "'security_events=polygon,alphavantage;ohlcv_crypto=binance,coingecko'",
    )
    vendor_urls: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description="per vendor, the API base URL to call instead of the public one (a proxy, "
        "a mirror such as api.massive.com for polygon): 'polygon=https://...;fred=https://...'",
    )
    vendor_rate_limits: Annotated[dict[str, tuple[int, float]], NoDecode] = Field(
        default_factory=dict,
        description="per vendor, calls per seconds replacing its free-tier limit (a paid plan): "
        "'polygon=100/1;alphavantage=75/60'",
    )
    coingecko_plan: Literal["demo", "paid"] = Field(
        "demo",
        description="CoinGecko plan of COINGECKO_API_KEY: demo (30 days of daily OHLC) or paid",
    )

    # --- validation ----------------------------------------------------------------
    @field_validator("smtp_recipients", mode="before")
    @classmethod
    def _split_recipients(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("smtp_recipients")
    @classmethod
    def _check_recipients(cls, value: list[str]) -> list[str]:
        bad = [r for r in value if "@" not in r]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        return value

    @field_validator(
        "polygon_api_key",
        "alphavantage_api_key",
        "fred_api_key",
        "newsapi_api_key",
        "coingecko_api_key",
        "binance_api_key",
        "binance_api_secret",
        "smtp_password",
        "alpaca_api_key",
        "alpaca_secret_key",
        "api_keys",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # `FOO_API_KEY=` in a .env template means "not set", not "the empty key".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator(
        "redis_url",
        "smtp_host",
        "smtp_sender",
        "smtp_username",
        "universe_path",
        "strategies_dir",
        "model_specs_path",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("warehouse_url")
    @classmethod
    def _check_warehouse_url(cls, value: str) -> str:
        if not value:
            return value  # filled from data_dir below
        scheme = urlsplit(value).scheme
        if scheme not in WAREHOUSE_SCHEMES:
            raise ValueError(
                f"scheme must be one of {', '.join(WAREHOUSE_SCHEMES)} "
                "(duckdb:///path/file.duckdb or postgresql://user@host:port/db)"
            )
        if scheme == "duckdb" and not value.partition("://")[2].lstrip("/"):
            # `duckdb://` would otherwise open an in-memory database and lose every write.
            raise ValueError("a duckdb URL needs a file path: duckdb:///path/file.duckdb")
        try:
            _ = urlsplit(value).port
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        if scheme != "duckdb" and not urlsplit(value).hostname:
            raise ValueError("a PostgreSQL URL needs a host: postgresql://user@host:port/db")
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_api_keys(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never repeats a key: it says which position is wrong and why.
        if value is None:
            return None
        keys = [_key_and_scopes(k)[0] for k in _split_keys(value.get_secret_value())]
        short = [str(n + 1) for n, key in enumerate(keys) if len(key) < MIN_API_KEY_LENGTH]
        if short:
            raise ValueError(
                f"key(s) number {', '.join(short)} shorter than {MIN_API_KEY_LENGTH} characters; "
                "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value if keys else None

    @field_validator("route_equity", "route_etf", "route_crypto")
    @classmethod
    def _check_route(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip().lower()
        kind, _, venue = value.partition(":")
        if kind in ("paper", "alpaca", "ibkr", "none") and not venue:
            return value
        if kind == "ccxt" and venue:
            return value
        raise ValueError(
            "must be paper, alpaca, ibkr, ccxt:<exchange id> (e.g. ccxt:binance) or none"
        )

    @model_validator(mode="after")
    def _check_approval(self) -> Settings:
        if self.broker_mode == "live" and self.approval == "auto":
            raise ValueError(
                "approval auto (QUANT_APPROVAL=auto) is allowed only with QUANT_BROKER_MODE=dry_run or paper; "
                "live orders need QUANT_APPROVAL=manual"
            )
        return self

    @property
    def approval_policy(self) -> Literal["auto", "manual"]:
        """The approval in force: the setting, else auto for dry_run/paper and manual for live."""
        if self.approval is not None:
            return self.approval
        return "manual" if self.broker_mode == "live" else "auto"

    def route_for(self, asset_class: str) -> str:
        """The broker route of an asset class (etf falls back to the equity route)."""
        if asset_class == "crypto":
            return self.route_crypto
        if asset_class == "etf" and self.route_etf is not None:
            return self.route_etf
        if asset_class in ("stock", "etf"):
            return self.route_equity
        return "none"

    def api_key_scopes(self) -> list[tuple[SecretStr, frozenset[str]]]:
        """Each API key with its scopes: `key` reads; `key:write` (or `key:read+write`) also writes."""
        if self.api_keys is None:
            return []
        return [
            (SecretStr(k), scopes)
            for k, scopes in map(_key_and_scopes, _split_keys(self.api_keys.get_secret_value()))
        ]

    @field_validator("ray_address", mode="before")
    @classmethod
    def _check_ray_address(cls, value: Any, info: Any) -> Any:
        value = None if isinstance(value, str) and not value.strip() else value
        if value is None and info.data.get("compute") == "ray":
            raise ValueError("required when QUANT_COMPUTE=ray (host:port, ray://host:10001, auto)")
        return value

    @field_validator("universe_path", "model_specs_path", mode="after")
    @classmethod
    def _existing_file(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        path = value.expanduser().resolve()
        if not path.is_file():
            raise ValueError(f"no such file: {path} (`quant init DIR` writes a starter set)")
        return path

    @field_validator("strategies_dir", mode="after")
    @classmethod
    def _existing_dir(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        path = value.expanduser().resolve()
        if not path.is_dir():
            raise ValueError(f"no such folder: {path} (`quant init DIR` writes a starter set)")
        if not any(path.glob("*.yaml")):
            raise ValueError(f"{path} holds no strategy *.yaml file")
        return path

    @field_validator("vendor_priority", mode="before")
    @classmethod
    def _parse_vendor_priority(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        out: dict[str, list[str]] = {}
        for part in filter(None, (p.strip() for p in value.split(";"))):
            domain, sep, vendors = part.partition("=")
            if not sep:
                raise ValueError(f"{part!r}: expected domain=vendor1,vendor2")
            out[domain.strip()] = [v.strip() for v in vendors.split(",") if v.strip()]
        return out

    @field_validator("vendor_priority")
    @classmethod
    def _check_vendor_priority(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from quant_assets.sources.registry import DOMAIN_VENDORS, VENDORS

        for domain, vendors in value.items():
            if domain not in DOMAIN_VENDORS:
                raise ValueError(
                    f"unknown data domain {domain!r}; known: {', '.join(DOMAIN_VENDORS)}"
                )
            unknown = [v for v in vendors if v not in VENDORS]
            if unknown or not vendors:
                raise ValueError(
                    f"{domain}: unknown vendor(s) {', '.join(unknown) or '(none given)'}; "
                    f"known: {', '.join(VENDORS)}"
                )
        return value

    @field_validator("vendor_urls", "vendor_rate_limits", mode="before")
    @classmethod
    def _parse_vendor_map(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        out: dict[str, Any] = {}
        for part in filter(None, (p.strip() for p in value.split(";"))):
            vendor, sep, setting = part.partition("=")
            if not sep or not setting.strip():
                raise ValueError(f"{part!r}: expected vendor=value")
            out[vendor.strip()] = setting.strip()
        if info.field_name == "vendor_rate_limits":
            for vendor, setting in out.items():
                calls, sep, seconds = setting.partition("/")
                try:
                    out[vendor] = (int(calls), float(seconds))
                except ValueError:
                    raise ValueError(f"{vendor}={setting}: expected calls/seconds") from None
                if not sep or out[vendor][0] <= 0 or out[vendor][1] <= 0:
                    raise ValueError(f"{vendor}={setting}: expected positive calls/seconds")
        return out

    @field_validator("vendor_urls")
    @classmethod
    def _check_vendor_urls(cls, value: dict[str, str]) -> dict[str, str]:
        from quant_assets.sources.registry import URL_VENDORS

        for vendor, url in value.items():
            if vendor not in URL_VENDORS:
                raise ValueError(
                    f"{vendor}: its base URL cannot be set; vendors that take one: "
                    f"{', '.join(URL_VENDORS)}"
                )
            if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
                raise ValueError(f"{vendor}: {url!r} is not an http(s) URL")
        return value

    @field_validator("vendor_rate_limits")
    @classmethod
    def _check_vendor_rate_limits(
        cls, value: dict[str, tuple[int, float]]
    ) -> dict[str, tuple[int, float]]:
        from quant_assets.sources.ratelimit import RATE_LIMITS

        unknown = [v for v in value if v not in RATE_LIMITS]
        if unknown:
            raise ValueError(
                f"unknown vendor(s) {', '.join(unknown)}; known: {', '.join(RATE_LIMITS)}"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value and urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("scheme must be redis, rediss or unix")
        return value

    @model_validator(mode="after")
    def _fill_derived(self) -> Settings:
        # Absolute paths, because dbt and Dagster subprocesses run in other directories.
        data_dir = self.data_dir.expanduser().resolve()
        object.__setattr__(self, "data_dir", data_dir)
        defaults = {
            "dagster_home": data_dir / "dagster_home",
            "reports_dir": data_dir / "reports",
            "files_dir": data_dir / "files",
        }
        for name, default in defaults.items():
            value = getattr(self, name)
            object.__setattr__(
                self, name, default if value is None else value.expanduser().resolve()
            )
        if not self.warehouse_url:
            # SQLAlchemy convention: after "duckdb:///" comes the path, so an absolute
            # path gives four slashes.
            object.__setattr__(self, "warehouse_url", f"duckdb:///{data_dir / 'warehouse.duckdb'}")
        if not self.mlflow_tracking_uri:
            object.__setattr__(self, "mlflow_tracking_uri", f"sqlite:///{data_dir / 'mlflow.db'}")
        return self

    # --- derived values ------------------------------------------------------------
    @property
    def dbt_target(self) -> DbtTarget:
        """The dbt profile target matching the warehouse backend."""
        return "duckdb" if urlsplit(self.warehouse_url).scheme == "duckdb" else "postgres"

    @property
    def duckdb_path(self) -> Path | None:
        """The DuckDB file of a duckdb:/// URL (None for PostgreSQL)."""
        if self.dbt_target != "duckdb":
            return None
        return Path(self.warehouse_url.removeprefix("duckdb:///"))

    @property
    def vendor_keys_present(self) -> list[str]:
        """Names of the vendor key fields that are set (values never exposed)."""
        return [name for name in VENDOR_KEY_FIELDS if getattr(self, name) is not None]

    def effective_source(self) -> EffectiveSource:
        """The source mode in force: `auto` means vendor if any vendor key is set, else sample."""
        if self.source_mode != "auto":
            return self.source_mode
        return "vendor" if self.vendor_keys_present else "sample"

    def live_trading_allowed(self, broker: Broker) -> bool:
        """Live orders need broker_mode=live, that broker's live flag, and no kill switch."""
        flag = {"alpaca": self.live_alpaca, "ibkr": self.live_ibkr, "ccxt": self.live_ccxt}[broker]
        return self.broker_mode == "live" and flag and not self.kill_switch

    def api_key_list(self) -> list[SecretStr]:
        """The accepted API keys, one SecretStr each (empty: the API refuses every request)."""
        if self.api_keys is None:
            return []
        return [key for key, _ in self.api_key_scopes()]

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host and self.smtp_sender and self.smtp_recipients)

    def describe(self) -> str:
        """One line per variable, `NAME = value`, secrets masked: what `quant settings` prints."""
        lines = []
        for name in type(self).model_fields:
            value = self._safe_value(name)
            lines.append(f"{env_var_name(name)} = {value}")
        lines.append(f"(derived) dbt_target = {self.dbt_target}")
        lines.append(f"(derived) effective_source = {self.effective_source()}")
        return "\n".join(lines)

    def describe_value(self, name: str) -> Any:
        """One field's value as `describe` shows it (secrets and URL passwords masked)."""
        return self._safe_value(name)

    def _safe_value(self, name: str) -> Any:
        value = getattr(self, name)
        if isinstance(value, SecretStr):
            return "**********"
        if name in ("warehouse_url", "redis_url", "mlflow_tracking_uri", "llm_conversations_url"):
            return _mask_url(value)
        if name == "vendor_urls":
            return {vendor: _mask_url(url) for vendor, url in value.items()}
        return value

    def __repr_args__(self) -> typing.Iterable[tuple[str | None, Any]]:
        for name in type(self).model_fields:
            yield name, self._safe_value(name)

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Read the environment (plus overrides); a bad value raises `SettingsError`."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise SettingsError(_explain(exc)) from None


def _split_keys(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


API_SCOPES = frozenset({"read", "write"})


def _key_and_scopes(entry: str) -> tuple[str, frozenset[str]]:
    """`key:write` -> (key, {read, write}); a plain key (or an unknown suffix) reads only."""
    key, sep, suffix = entry.rpartition(":")
    scopes = frozenset(suffix.split("+")) if sep else frozenset()
    if not sep or not scopes or not scopes <= API_SCOPES:
        return entry, frozenset({"read"})
    return key, scopes | {"read"}


def env_var_name(field_name: str) -> str:
    """The environment variable a field is read from (the one set, else the documented one)."""
    info = Settings.model_fields[field_name]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        names = [c for c in alias.choices if isinstance(c, str)]
        present = {k.upper() for k in os.environ}
        for candidate in names:
            if candidate.upper() in present:
                return candidate
        return names[0]
    return f"{ENV_PREFIX}{field_name.upper()}"


def _explain(exc: ValidationError) -> str:
    """`QUANT_BROKER_MODE='yolo': must be one of dry_run, paper, live`, one per bad value."""
    problems = []
    for err in exc.errors():
        loc = err.get("loc") or ("<settings>",)
        field = str(loc[0])
        if field in Settings.model_fields:
            var, secret = env_var_name(field), _is_secret(field)
        else:
            # The alias was used as the loc (unprefixed vendor names) or a model-level error.
            var, secret = field, field.upper().endswith(("KEY", "SECRET", "PASSWORD"))
        shown = "<secret>" if secret else repr(err.get("input"))
        if err["type"] == "literal_error":
            args = typing.get_args(_unwrap(Settings.model_fields[field].annotation))
            reason = f"must be one of {', '.join(map(str, args))}"
        else:
            reason = err["msg"].removeprefix("Value error, ")
            reason = reason[:1].lower() + reason[1:]
        problems.append(f"{var}={shown}: {reason}")
    return mask_secrets("; ".join(problems)) or ""


def _unwrap(annotation: Any) -> Any:
    """The Literal inside `Literal[...] | None`."""
    for arg in typing.get_args(annotation) or ():
        if typing.get_origin(arg) is Literal:
            return arg
    return annotation


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once. `get_settings.cache_clear()` re-reads."""
    return Settings.load()

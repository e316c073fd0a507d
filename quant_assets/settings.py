"""Every environment variable, path and secret of the platform, read once and validated.

One place to read the environment means no module reads `os.environ` or a secret itself,
a bad value fails at start-up with the variable's name instead of deep inside a run, and
secrets (SecretStr, passwords inside URLs) never reach a repr or a log line.
The table of variables lives in docs/ENVIRONMENT.md.
"""

from __future__ import annotations

import datetime as dt
import os
import typing
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
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


def _mask_url(url: str | None) -> str | None:
    """The URL with any password replaced, so it is safe to print."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


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

    # --- HTTP API ------------------------------------------------------------------
    api_keys: SecretStr | None = Field(
        None, description="comma-separated keys accepted in the X-API-Key header"
    )

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
        if scheme == "duckdb" and not value.removeprefix("duckdb:///"):
            raise ValueError("a duckdb URL needs a file path: duckdb:///path/file.duckdb")
        if scheme != "duckdb" and not urlsplit(value).hostname:
            raise ValueError("a PostgreSQL URL needs a host: postgresql://user@host:port/db")
        return value

    @field_validator("api_keys")
    @classmethod
    def _check_api_keys(cls, value: SecretStr | None) -> SecretStr | None:
        # The message never repeats a key: it says which position is wrong and why.
        if value is None:
            return None
        keys = _split_keys(value.get_secret_value())
        short = [str(n + 1) for n, key in enumerate(keys) if len(key) < MIN_API_KEY_LENGTH]
        if short:
            raise ValueError(
                f"key(s) number {', '.join(short)} shorter than {MIN_API_KEY_LENGTH} characters; "
                "make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return value if keys else None

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
        return [SecretStr(key) for key in _split_keys(self.api_keys.get_secret_value())]

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

    def _safe_value(self, name: str) -> Any:
        value = getattr(self, name)
        if isinstance(value, SecretStr):
            return "**********"
        if name in ("warehouse_url", "redis_url", "mlflow_tracking_uri"):
            return _mask_url(value)
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
    return "; ".join(problems)


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

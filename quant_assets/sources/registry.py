"""Vendor name -> adapter, built from settings: keys from the environment, symbols from the universe.

`build_source("polygon")` gives a ready `PolygonSource` with the key from settings and the
universe's Polygon tickers; `vendor_source_for(domain)` picks the first vendor that serves
a data domain and whose key is set (the order below prefers the broadest free data).
Adapter modules are imported only when built, so importing the registry is cheap and a
missing optional client (ib_async) only matters to the one vendor that needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from quant_assets.sources.base import Source, SourceError

if TYPE_CHECKING:
    from quant_assets.sources.http import RequestLog


@dataclass(frozen=True)
class VendorSpec:
    """How to build one vendor's adapter; `key_field` names the Settings field of its key."""

    name: str
    build: Callable[[_Context], Source]
    key_field: str | None = None
    key_required: bool = False


@dataclass
class _Context:
    name: str
    key: str | None
    settings: Any
    universe_loader: Callable[[], Any]
    log: RequestLog | None
    overrides: dict[str, Any]

    def symbol_map(self, vendor: str) -> dict[str, str | None]:
        """canonical symbol -> the vendor's symbol (None: the vendor lacks it), from universe.yaml."""
        universe = self.universe_loader()
        return {i.symbol: getattr(i.vendor_symbols, vendor) for i in universe.instruments}

    def kwargs(self, **defaults: Any) -> dict[str, Any]:
        """Constructor arguments: the defaults, then the settings' base URL and rate limit
        for this vendor (QUANT_VENDOR_URLS, QUANT_VENDOR_RATE_LIMITS), then the overrides."""
        configured: dict[str, Any] = {}
        url = (getattr(self.settings, "vendor_urls", None) or {}).get(self.name)
        if url:
            configured["base_url"] = url
        limit = (getattr(self.settings, "vendor_rate_limits", None) or {}).get(self.name)
        if limit:
            from quant_assets.sources.ratelimit import RateLimit, shared_limiter

            plan = (RateLimit(int(limit[0]), float(limit[1])),)
            configured["rate_limit"] = shared_limiter(self.name, plan)
        return {**defaults, "log": self.log, **configured, **self.overrides}


def _polygon(c: _Context) -> Source:
    from quant_assets.sources.polygon import PolygonSource

    return PolygonSource(c.key or "", **c.kwargs(symbol_map=c.symbol_map("polygon")))


def _alphavantage(c: _Context) -> Source:
    from quant_assets.sources.alphavantage import AlphaVantageSource

    # TIME_SERIES_DAILY is for listed symbols: "BTC" there is an ETF, not bitcoin.
    universe = c.universe_loader()
    crypto = {i.symbol for i in universe.instruments if i.asset_class == "crypto"}
    symbol_map = {s: (None if s in crypto else v) for s, v in c.symbol_map("alphavantage").items()}
    return AlphaVantageSource(c.key or "", **c.kwargs(symbol_map=symbol_map))


def _fred(c: _Context) -> Source:
    from quant_assets.sources.fred import FredSource

    return FredSource(c.key or "", **c.kwargs())


def _worldbank(c: _Context) -> Source:
    from quant_assets.sources.worldbank import WorldBankSource

    return WorldBankSource(**c.kwargs())


def _binance(c: _Context) -> Source:
    from quant_assets.sources.binance import BinanceSource

    return BinanceSource(**c.kwargs(symbol_map=c.symbol_map("binance")))


def _coingecko(c: _Context) -> Source:
    from quant_assets.sources.coingecko import CoinGeckoSource

    plan = getattr(c.settings, "coingecko_plan", "demo")
    return CoinGeckoSource.from_key(c.key, plan=plan, **c.kwargs(id_map=c.symbol_map("coingecko")))


def _newsapi(c: _Context) -> Source:
    from quant_assets.sources.newsapi import NewsAPISource, aliases_from_instruments

    aliases = aliases_from_instruments(c.universe_loader().instruments)
    return NewsAPISource.from_key(c.key or "", **c.kwargs(aliases=aliases))


def _gdelt(c: _Context) -> Source:
    from quant_assets.sources.gdelt import GDELTSource

    return GDELTSource(**c.kwargs())


def _ibkr(c: _Context) -> Source:
    from quant_assets.sources.ibkr import IBKRSource

    s = c.settings
    return IBKRSource.connect(s.ibkr_host, s.ibkr_port, s.ibkr_client_id, **c.kwargs())


VENDORS: dict[str, VendorSpec] = {
    s.name: s
    for s in (
        VendorSpec("polygon", _polygon, "polygon_api_key", key_required=True),
        VendorSpec("alphavantage", _alphavantage, "alphavantage_api_key", key_required=True),
        VendorSpec("fred", _fred, "fred_api_key", key_required=True),
        VendorSpec("alfred", _fred, "fred_api_key", key_required=True),  # same API, vintages
        VendorSpec("worldbank", _worldbank),
        VendorSpec("binance", _binance),  # public market data needs no key
        VendorSpec("coingecko", _coingecko, "coingecko_api_key"),  # keyless public tier works
        VendorSpec("newsapi", _newsapi, "newsapi_api_key", key_required=True),
        VendorSpec("gdelt", _gdelt),
        VendorSpec("ibkr", _ibkr),  # needs a running TWS / IB Gateway, so never chosen by domain
    )
}

# Per data domain (select.Domain), vendors in order of preference; every configured one
# joins a `ChainSource` that fills what the earlier ones lack (Alpha Vantage's earnings
# next to Polygon's dividends, CoinGecko for a coin Binance does not list, World Bank's
# annual indicators next to FRED's series). QUANT_VENDOR_PRIORITY overrides per domain.
DOMAIN_VENDORS: dict[str, tuple[str, ...]] = {
    "ohlcv_listed": ("polygon", "alphavantage"),
    "ohlcv_crypto": ("binance", "coingecko", "polygon"),
    "security_events": ("polygon", "alphavantage"),
    "economic_events": ("fred",),
    "geopolitical_events": ("gdelt",),
    "macro": ("fred", "worldbank"),
    "news": ("polygon", "newsapi"),
}


# Vendors whose API base URL QUANT_VENDOR_URLS may set (ibkr's socket has no base URL;
# newsapi's client is given a session that rewrites its https://newsapi.org URLs).
URL_VENDORS: tuple[str, ...] = (
    "polygon", "alphavantage", "fred", "alfred", "worldbank", "binance", "coingecko", "gdelt",
    "newsapi",
)  # fmt: skip


def register(spec: VendorSpec) -> None:
    """Add or replace a vendor (a private feed, a test double)."""
    VENDORS[spec.name] = spec


def _settings(settings: Any) -> Any:
    if settings is not None:
        return settings
    from quant_assets.settings import get_settings

    return get_settings()


def _key(spec: VendorSpec, settings: Any, keys: Mapping[str, str] | None) -> str | None:
    if keys is not None and keys.get(spec.name):
        return keys[spec.name]
    if spec.key_field is None:
        return None
    value = getattr(settings, spec.key_field, None)
    if value is None:
        return None
    secret = value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)
    return secret or None


def _key_env(spec: VendorSpec) -> str:
    try:
        from quant_assets.settings import env_var_name

        return env_var_name(spec.key_field or "")
    except (ImportError, KeyError):
        return (spec.key_field or "").upper()


def has_key(name: str, *, settings: Any = None, keys: Mapping[str, str] | None = None) -> bool:
    """True if `name` can be built: its key is set, or it needs none."""
    spec = _spec(name)
    return not spec.key_required or _key(spec, _settings(settings), keys) is not None


def available_vendors(*, settings: Any = None, keys: Mapping[str, str] | None = None) -> list[str]:
    """Vendors whose key requirement is met (ibkr is listed; it still needs TWS to connect)."""
    settings = _settings(settings)
    return [n for n in VENDORS if has_key(n, settings=settings, keys=keys)]


def build_source(
    name: str,
    *,
    settings: Any = None,
    keys: Mapping[str, str] | None = None,
    universe: Any = None,
    log: RequestLog | None = None,
    **overrides: Any,
) -> Source:
    """The adapter for vendor `name`, keyed from `keys` or settings, symbols from the universe.

    `overrides` go to the adapter's constructor (client=, clock=, sleep=, rate_limit=...).
    A missing required key raises `AuthError` naming the environment variable to set.
    """
    spec = _spec(name)
    settings = _settings(settings)
    key = _key(spec, settings, keys)
    if spec.key_required and key is None:
        from quant_assets.sources.http import AuthError  # imported here: httpx, for one error

        raise AuthError(name, f"bad or missing API key for {name}: set {_key_env(spec)}")

    cached: list[Any] = []

    def universe_loader() -> Any:
        if universe is not None:
            return universe
        if not cached:
            from quant_assets.universe import load_universe

            cached.append(load_universe())
        return cached[0]

    return spec.build(_Context(name, key, settings, universe_loader, log, dict(overrides)))


def domain_vendors(domain: str, settings: Any = None) -> tuple[str, ...]:
    """The vendor order of a domain: QUANT_VENDOR_PRIORITY's entry, else DOMAIN_VENDORS."""
    if domain not in DOMAIN_VENDORS:
        raise ValueError(f"unknown data domain {domain!r}; known: {sorted(DOMAIN_VENDORS)}")
    override = (getattr(settings, "vendor_priority", None) or {}).get(domain)
    return tuple(override) if override else DOMAIN_VENDORS[domain]


def vendor_source_for(
    domain: str,
    *,
    settings: Any = None,
    keys: Mapping[str, str] | None = None,
    universe: Any = None,
    log: RequestLog | None = None,
) -> Source:
    """The configured vendors of a data domain, in priority order: one vendor, or a
    `ChainSource` whose later vendors fill what the earlier ones lack.

    A vendor counts when its key is set or it needs none; one whose key is optional
    (CoinGecko's keyless public tier) counts only when set, or as a fallback behind another.
    """
    settings = _settings(settings)
    candidates = domain_vendors(domain, settings)
    chosen: list[str] = []
    for name in candidates:
        spec = _spec(name)
        keyed = _key(spec, settings, keys) is not None
        usable = spec.key_field is None or keyed or (not spec.key_required and bool(chosen))
        if usable and name != "ibkr":  # ibkr needs a running TWS / IB Gateway: build it by name
            chosen.append(name)
    if not chosen:
        needed = " or ".join(
            _key_env(VENDORS[n]) for n in candidates if n in VENDORS and VENDORS[n].key_required
        )
        raise SourceError("vendor", f"no vendor configured for {domain}: set {needed}")
    built = [
        build_source(n, settings=settings, keys=keys, universe=universe, log=log) for n in chosen
    ]
    if len(built) == 1:
        return built[0]
    from quant_assets.sources.chain import ChainSource

    return ChainSource(built)


def _spec(name: str) -> VendorSpec:
    try:
        return VENDORS[name]
    except KeyError:
        raise KeyError(f"unknown vendor {name!r}; known: {sorted(VENDORS)}") from None

"""Sample market: factor-model returns, unadjusted OHLCV and corporate actions per instrument.

Log return of instrument i on session t:

    x = mu_i(t) + s_m,i * M_t + s_s,i * S_sector(i),t + s_e,i * (E_i,t + J_i,t)

M (market), S (one per sector; the fixed-income factor is the 10-year yield's move) and E
(idiosyncratic) are unit-variance GARCH(1,1) processes with Student-t innovations, so
volatility clusters and tails are fat. Economic surprises and severe geopolitical events
enter M as shocks, J is the earnings-day jump that follows the EPS surprise. The loadings
split each instrument's target volatility between the factors by kind (broad ETF, megacap,
growth, crypto, ...). Prices are built from the adjusted path times a factor that steps at
splits (ratio) and dividends (cash), so the delivered bars are unadjusted like a vendor's.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.signal import lfilter

from quant_assets.calendars import CRYPTO_CALENDAR
from quant_assets.sources.sample_common import Garch, as_dates, garch_path, stream, trading_days
from quant_assets.sources.sample_events import expected_shock_per_session, geopolitics
from quant_assets.sources.sample_macro import economy

MARKET_GARCH = Garch(alpha=0.08, beta=0.90, df=5.0)
# E[shock^2] per session of the economic-calendar shocks (measured over seeds 0-9: 0.010-0.013).
ECON_SHOCK_VAR = 0.011
SECTOR_GARCH = Garch(alpha=0.07, beta=0.91, df=5.0)
CRYPTO_GARCH = Garch(alpha=0.08, beta=0.88, df=5.0)
IDIO_GARCH = Garch(alpha=0.05, beta=0.93, df=5.0)
CYCLE_DRIFT = 0.03  # market-factor sd per day per unit of business-cycle state above its mean
CYCLE_MEAN = 0.22  # long-run mean of the cycle state (expansion 0.4, recession -2, 7% of months)
SPLIT_RATIOS = (2, 3, 4, 5, 10, 20)
SPLIT_LAG = 25  # sessions between the price crossing the threshold and the ex-date
EARNINGS_SURPRISE_MEAN = 0.4  # companies beat more often than they miss
_STABLECOINS = {"USDT", "USDC", "DAI", "BUSD", "TUSD", "FDUSD", "USDE"}
_THEMATIC = {
    "etf_quantum",
    "etf_reit_datacenter",
    "etf_reit_industrial",
    "etf_fusion_nuclear",
    "etf_energy",
}


@dataclass(frozen=True)
class InstrumentSpec:
    """What the generator needs to know about an instrument."""

    symbol: str
    asset_class: str
    sector: str
    groups: tuple[str, ...] = ()
    name: str = ""
    calendar: str = "NYSE"


def spec_from(obj: object) -> InstrumentSpec:
    """Build a spec from a universe `Instrument`, a dict or any object with the attributes."""

    def get(key: str, default=None):
        return obj.get(key, default) if isinstance(obj, dict) else getattr(obj, key, default)

    asset_class = str(get("asset_class")).lower()
    groups = get("groups") or ()
    if isinstance(groups, str):
        groups = [g.strip() for g in groups.split(",") if g.strip()]
    calendar = get("calendar") or (CRYPTO_CALENDAR if asset_class == "crypto" else "NYSE")
    return InstrumentSpec(
        symbol=str(get("symbol")),
        asset_class=asset_class,
        sector=str(get("sector") or ("crypto" if asset_class == "crypto" else "broad_market")),
        groups=tuple(groups),
        name=str(get("name") or get("symbol")),
        calendar=CRYPTO_CALENDAR if calendar == CRYPTO_CALENDAR else "NYSE",
    )


@dataclass(frozen=True)
class Kind:
    """Parameters shared by a kind of instrument; per-symbol values are drawn inside ranges."""

    vol: tuple[float, float]  # annualised total volatility
    w_market: float  # share of variance from the market factor
    w_sector: float  # share of variance from the sector factor
    drift: float  # annual log drift
    dividend_yield: tuple[float, float] = (0.0, 0.0)
    price: tuple[float, float] = (20.0, 100.0)  # starting price range (log-uniform)
    dollar_volume: tuple[float, float] = (1e7, 1e8)
    news_rate: float = 0.05  # articles per session
    market_sign: float = 1.0
    adoption: tuple[float, float] = (0.0, 1.0)  # extra early log drift per year, decay years


KINDS: dict[str, Kind] = {
    "broad_etf": Kind(
        (0.155, 0.185), 0.96, 0.0, 0.075, (0.012, 0.02), (60, 130), (5e8, 2e10), 0.04
    ),
    "sector_etf": Kind((0.18, 0.25), 0.62, 0.30, 0.07, (0.008, 0.03), (25, 80), (5e7, 2e9), 0.03),
    "thematic_etf": Kind((0.24, 0.32), 0.45, 0.35, 0.06, (0.0, 0.015), (15, 40), (5e6, 2e8), 0.03),
    "bond_etf": Kind(
        (0.05, 0.075), 0.03, 0.90, 0.02, (0.025, 0.045), (80, 110), (5e7, 2e9), 0.02, -1.0
    ),
    "commodity_etf": Kind((0.15, 0.19), 0.04, 0.85, 0.04, (0.0, 0.0), (40, 120), (1e8, 2e9), 0.03),
    "megacap": Kind((0.24, 0.33), 0.35, 0.20, 0.11, (0.005, 0.03), (15, 120), (3e8, 5e9), 0.12),
    "growth": Kind((0.62, 0.92), 0.15, 0.12, 0.08, (0.0, 0.0), (8, 40), (1e7, 3e8), 0.06),
    "btc": Kind(
        (0.60, 0.68),
        0.04,
        0.80,
        0.35,
        price=(0.08, 0.08),
        dollar_volume=(3e4, 6e4),
        news_rate=0.12,
        adoption=(2.5, 2.5),
    ),
    "alt": Kind(
        (0.78, 0.92),
        0.03,
        0.55,
        0.15,
        price=(0.05, 20.0),
        dollar_volume=(2e5, 2e6),
        news_rate=0.06,
        adoption=(1.2, 1.5),
    ),
    "stable": Kind(
        (0.02, 0.03), 0.0, 0.0, 0.0, price=(1.0, 1.0), dollar_volume=(1e6, 1e7), news_rate=0.01
    ),
}

# Real listing dates where an instrument began trading after 2005, for realism; others draw one.
KNOWN_INCEPTION = {
    "META": "2012-05-18", "TSLA": "2010-06-29", "V": "2008-03-19", "MA": "2006-05-25",
    "ABBV": "2013-01-02", "AVGO": "2009-08-06", "PLTR": "2020-09-30", "UBER": "2019-05-10",
    "PYPL": "2015-07-20", "ARM": "2023-09-14", "IONQ": "2021-10-01", "RGTI": "2022-03-02",
    "QBTS": "2022-08-08", "CRWD": "2019-06-12", "SNOW": "2020-09-16", "COIN": "2021-04-14",
    "RKLB": "2021-08-25", "HOOD": "2021-07-29", "CEG": "2022-02-02", "GEV": "2024-04-02",
    "SMR": "2022-05-03", "OKLO": "2024-05-10", "VRT": "2020-02-10", "ANET": "2014-06-06",
    "VOO": "2010-09-09", "SCHD": "2011-10-20", "JEPI": "2020-05-20", "BND": "2007-04-10",
    "VXUS": "2011-01-28", "IEFA": "2012-10-24", "IEMG": "2012-10-24", "VIG": "2006-04-27",
    "VEA": "2007-07-26", "QTUM": "2018-09-04", "SRVR": "2018-05-15", "URA": "2010-11-05",
    "NLR": "2007-08-13", "INDS": "2018-11-29", "BNDX": "2013-06-04", "XLRE": "2015-10-08",
    "ICLN": "2008-06-24", "TAN": "2008-04-15", "XOP": "2006-06-19", "VNQ": "2004-09-29",
    "XLE": "1998-12-22", "VDE": "2004-09-29", "ELF": "2016-09-22", "ONON": "2021-09-15",
    "CAVA": "2023-06-15", "SMCI": "2007-03-29", "CRWV": "2025-03-28", "ALAB": "2024-03-20",
    "AVAV": "2007-01-23",
}  # fmt: skip
# Established large caps that sit in a growth group by theme, not by risk: priced as megacaps.
ESTABLISHED = {"LMT", "RTX", "NOC", "GD", "LHX"}
# Crypto: first day of trading history and the price then.
KNOWN_COINS = {
    "BTC": ("2010-07-19", 0.08), "ETH": ("2015-08-08", 2.8), "XRP": ("2013-08-05", 0.006),
    "BNB": ("2017-07-26", 0.11), "SOL": ("2020-04-11", 0.95), "ADA": ("2017-10-02", 0.025),
    "DOGE": ("2013-12-16", 0.0005), "TRX": ("2017-09-14", 0.002), "AVAX": ("2020-09-23", 4.5),
    "LINK": ("2017-09-21", 0.19), "DOT": ("2020-08-21", 2.9), "LTC": ("2013-04-29", 4.3),
    "BCH": ("2017-08-01", 300.0), "USDT": ("2015-02-25", 1.0), "USDC": ("2018-10-08", 1.0),
}  # fmt: skip


def coin_base(symbol: str) -> str:
    """'BTC-USD', 'BTC/USDT', 'BTCUSD', 'X:BTCUSD' -> 'BTC'."""
    base = symbol.upper().split(":")[-1].replace("/", "-").split("-")[0]
    for quote in ("USDT", "USDC", "USD"):
        if base.endswith(quote) and len(base) > len(quote) and base not in _STABLECOINS:
            return base[: -len(quote)]
    return base


def kind_of(spec: InstrumentSpec) -> str:
    groups = set(spec.groups)
    if spec.asset_class == "crypto":
        base = coin_base(spec.symbol)
        return "btc" if base == "BTC" else "stable" if base in _STABLECOINS else "alt"
    if spec.asset_class == "etf":
        if spec.sector == "fixed_income":
            return "bond_etf"
        if spec.sector == "commodities":
            return "commodity_etf"
        if groups & _THEMATIC:
            return "thematic_etf"
        return "broad_etf" if spec.sector == "broad_market" else "sector_etf"
    if spec.symbol.upper() in ESTABLISHED:
        return "megacap"
    return "growth" if any(g.startswith("growth_") for g in groups) else "megacap"


@dataclass(frozen=True)
class Profile:
    """Per-symbol parameters, drawn once from the symbol's own stream."""

    spec: InstrumentSpec
    kind: str
    vol: float
    s_market: float  # daily loadings (log-return units per unit factor)
    s_sector: float
    s_idio: float
    drift: float  # annual log drift
    adoption: tuple[float, float]
    inception: dt.date
    start_price: float
    dividend_yield: float
    dividend_month: int  # first ex-dividend month of the year (1..3)
    dividend_day: int
    split_threshold: float  # 0: never splits
    earnings_day: int  # days after quarter-month start of the report, 0: no earnings
    pe: float  # price/earnings ratio for EPS consensus (negative margin for loss makers)
    dollar_volume: float
    news_rate: float

    @property
    def periods_per_year(self) -> int:
        return 365 if self.spec.calendar == CRYPTO_CALENDAR else 252


def profile(seed: int, spec: InstrumentSpec, start: dt.date) -> Profile:
    """Draw a symbol's parameters; they depend only on (seed, symbol, kind)."""
    kind = kind_of(spec)
    k = KINDS[kind]
    u = stream(seed, "profile", spec.symbol).random(12)
    vol = k.vol[0] + (k.vol[1] - k.vol[0]) * u[0]
    n = 365 if spec.calendar == CRYPTO_CALENDAR else 252
    w_idio = 1.0 - k.w_market - k.w_sector
    is_stock = spec.asset_class == "stock"
    # Earnings jumps add variance to the idiosyncratic part; scale it back to the target.
    idio_scale = 1.0 / np.sqrt(1.0 + 0.12) if is_stock else 1.0
    daily = vol / np.sqrt(n)
    base = coin_base(spec.symbol) if spec.asset_class == "crypto" else spec.symbol.upper()

    def log_uniform(lo: float, hi: float, x: float) -> float:
        return float(np.exp(np.log(lo) + (np.log(hi) - np.log(lo)) * x))

    inception = start
    start_price = log_uniform(*k.price, u[1])
    if spec.asset_class == "crypto":
        if base in KNOWN_COINS:
            day, start_price = KNOWN_COINS[base]
            inception = dt.date.fromisoformat(day)
        else:
            inception = dt.date(2014, 1, 1) + dt.timedelta(days=int(u[2] * 7 * 365))
    elif base in KNOWN_INCEPTION:
        inception = dt.date.fromisoformat(KNOWN_INCEPTION[base])
    elif kind in ("growth", "thematic_etf"):
        first, last = (2008, 2021) if kind == "growth" else (2006, 2019)
        inception = dt.date(first, 1, 1) + dt.timedelta(days=int(u[3] * (last - first) * 365))
    inception = max(inception, start)
    if inception > start and spec.asset_class != "crypto":
        # IPOs and fund launches happen at round-ish prices.
        start_price = (25.0 if spec.asset_class == "etf" else 10.0) + round(u[4] * 30.0)

    pays = k.dividend_yield[1] > 0 and (
        spec.asset_class == "etf" or u[5] < (0.6 if spec.sector == "technology" else 0.85)
    )
    dividend_yield = (
        k.dividend_yield[0] + (k.dividend_yield[1] - k.dividend_yield[0]) * u[6] if pays else 0.0
    )
    if kind == "growth":
        earnings_yield = 0.07 * u[7] - 0.04  # loss makers have negative EPS
        pe = 1.0 / (earnings_yield if abs(earnings_yield) > 1e-3 else 1e-3)
    else:
        pe = 15.0 + 20.0 * u[7]
    return Profile(
        spec=spec,
        kind=kind,
        vol=vol,
        s_market=k.market_sign * np.sqrt(k.w_market) * daily,
        s_sector=np.sqrt(k.w_sector) * daily,
        s_idio=np.sqrt(w_idio) * daily * idio_scale,
        drift=k.drift + (0.03 * (2 * u[8] - 1) if is_stock else 0.0),
        adoption=k.adoption,
        inception=inception,
        start_price=start_price,
        dividend_yield=dividend_yield,
        dividend_month=3 if spec.asset_class == "etf" else 1 + int(u[9] * 3),
        dividend_day=15 + int(u[10] * 6) if spec.asset_class == "etf" else 5 + int(u[10] * 20),
        split_threshold=250.0 + 450.0 * u[11] if is_stock else 0.0,
        earnings_day=18 + int(u[9] * 22) if is_stock else 0,
        pe=pe,
        dollar_volume=log_uniform(*k.dollar_volume, u[3]),
        news_rate=k.news_rate,
    )


@dataclass
class SymbolPath:
    """One instrument's generated history from its inception (arrays aligned on `days`)."""

    profile: Profile
    days: np.ndarray  # datetime64[D]
    dates: np.ndarray  # same as python dates (object), built once for frames
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    vwap: np.ndarray
    log_return: np.ndarray  # total (dividend-inclusive) log return of each session
    zscore: np.ndarray  # return standardised by the conditional volatility
    sector_z: np.ndarray  # the sector factor's innovation that session (0 for broad market)
    earnings: dict[str, np.ndarray] = field(default_factory=dict)  # idx, actual, consensus
    dividends: dict[str, np.ndarray] = field(default_factory=dict)  # idx, amount
    splits: dict[str, np.ndarray] = field(default_factory=dict)  # idx, ratio


@lru_cache(maxsize=8)
def factors(
    seed: int, start: dt.date, end: dt.date, sectors: tuple[str, ...]
) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Market and sector factor paths (sessions, residual, variance) on their calendars.

    'market' and listed sectors run on NYSE sessions, 'crypto' on every day. Each factor has
    its own stream, so the set of sectors asked for does not change any factor's values.
    """
    econ = economy(seed, start, end)
    geo = geopolitics(seed, start, end)
    nyse = econ.days
    geo_shock = geo.market_shock - expected_shock_per_session()
    shock = econ.market_shock + geo_shock + CYCLE_DRIFT * (econ.cycle - CYCLE_MEAN)
    eta = MARKET_GARCH.innovations(stream(seed, "factor", "market"), len(nyse))
    shock_var = ECON_SHOCK_VAR + expected_shock_per_session(2)
    e, h = garch_path(eta, MARKET_GARCH.alpha, MARKET_GARCH.beta, shock, shock_var)
    out = {
        "market": (nyse, e[:, 0], h[:, 0]),
        "fixed_income": (nyse, econ.bond_factor, econ.bond_variance),
    }
    listed = [s for s in sectors if s not in out and s not in ("crypto", "broad_market")]
    if listed:
        eta = np.column_stack(
            [SECTOR_GARCH.innovations(stream(seed, "factor", s), len(nyse)) for s in listed]
        )
        e, h = garch_path(eta, SECTOR_GARCH.alpha, SECTOR_GARCH.beta)
        out.update({s: (nyse, e[:, j], h[:, j]) for j, s in enumerate(listed)})
    out["broad_market"] = (nyse, np.zeros(len(nyse)), np.zeros(len(nyse)))
    if "crypto" in sectors:
        all_days = trading_days(CRYPTO_CALENDAR, start, end)
        eta = CRYPTO_GARCH.innovations(stream(seed, "factor", "crypto"), len(all_days))
        e, h = garch_path(eta, CRYPTO_GARCH.alpha, CRYPTO_GARCH.beta)
        out["crypto"] = (all_days, e[:, 0], h[:, 0])
    return out


def _on_grid(values: np.ndarray, src_days: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Values on `src_days` placed on `grid` (zero where the source has no session)."""
    if len(src_days) == len(grid) and (src_days == grid).all():
        return values
    out = np.zeros(len(grid))
    pos = np.searchsorted(grid, src_days)
    ok = (pos < len(grid)) & (grid[np.minimum(pos, len(grid) - 1)] == src_days)
    out[pos[ok]] = values[ok]
    return out


def _quarter_dates(
    first_year: int, last_year: int, months: tuple[int, ...], day_offset: np.ndarray
) -> np.ndarray:
    """datetime64[D] for each (year, month) in order, `day_offset` days after the month start."""
    starts = np.array(
        [
            np.datetime64(f"{y:04d}-{m:02d}-01")
            for y in range(first_year, last_year + 1)
            for m in months
        ],
        dtype="datetime64[D]",
    )
    return starts + day_offset[: len(starts)].astype("timedelta64[D]")


def _round_price(x: np.ndarray, crypto: bool) -> np.ndarray:
    """Cents for listed prices (4 decimals below $1), 6 significant digits for crypto.

    Both roundings are monotone, so high >= max(open, close) survives them.
    """
    if crypto:
        digits = 5 - np.floor(np.log10(np.maximum(x, 1e-12))).astype(int)
        scale = 10.0 ** digits.clip(-6, 12)
        return np.round(x * scale) / scale
    return np.where(x >= 1.0, np.round(x, 2), np.round(x, 4))


@lru_cache(maxsize=8)
def market(
    seed: int, start: dt.date, end: dt.date, specs: tuple[InstrumentSpec, ...]
) -> dict[str, SymbolPath]:
    """Generate every instrument's path (cached per process: later calls only slice)."""
    profiles = [profile(seed, s, start) for s in specs]
    sectors = tuple(sorted({p.spec.sector for p in profiles}))
    facs = factors(seed, start, end, sectors)
    nyse = trading_days("NYSE", start, end)
    out: dict[str, SymbolPath] = {}
    for calendar in ("NYSE", CRYPTO_CALENDAR):
        batch = [p for p in profiles if p.spec.calendar == calendar]
        if batch:
            grid = nyse if calendar == "NYSE" else trading_days(CRYPTO_CALENDAR, start, end)
            out.update(_simulate(seed, batch, grid, facs))
    return {s.symbol: out[s.symbol] for s in specs}


def _simulate(seed: int, batch: list[Profile], grid: np.ndarray, facs) -> dict[str, SymbolPath]:
    n_t = len(grid)
    eta = np.column_stack(
        [IDIO_GARCH.innovations(stream(seed, "idio", p.spec.symbol), n_t) for p in batch]
    )
    e_idio, h_idio = garch_path(eta, IDIO_GARCH.alpha, IDIO_GARCH.beta)
    m_days, m_e, m_h = facs["market"]
    m_e, m_h = _on_grid(m_e, m_days, grid), _on_grid(m_h, m_days, grid)
    out = {}
    for i, p in enumerate(batch):
        f_days, s_e, s_h = facs[p.spec.sector]
        s_e, s_h = _on_grid(s_e, f_days, grid), _on_grid(s_h, f_days, grid)
        out[p.spec.symbol] = _build_path(
            seed, p, grid, m_e, m_h, s_e, s_h, e_idio[:, i], h_idio[:, i]
        )
    return out


def _build_path(seed, p: Profile, grid, m_e, m_h, s_e, s_h, i_e, i_h) -> SymbolPath:
    sym, n_t = p.spec.symbol, len(grid)
    crypto = p.spec.calendar == CRYPTO_CALENDAR
    per_year = p.periods_per_year
    inc = int(np.searchsorted(grid, np.datetime64(p.inception, "D")))
    years = grid.astype("datetime64[Y]").astype(int) + 1970
    first_year, last_year = int(years[0]), int(years[-1])

    # Earnings: after the close on the report day, the jump lands on the next session.
    jump = np.zeros(n_t)
    earn_idx = np.empty(0, dtype=int)
    earn_s = np.empty(0)
    if p.earnings_day:
        n_q = 4 * (last_year - first_year + 1)
        draws = stream(seed, "earnings", sym).standard_normal((n_q, 3))
        offset = p.earnings_day + np.round(2 * draws[:, 0]).astype(int)
        when = _quarter_dates(first_year, last_year, (1, 4, 7, 10), offset)
        idx = np.searchsorted(grid, when)
        keep = (idx >= inc + 40) & (idx + 1 < n_t)
        surprise = EARNINGS_SURPRISE_MEAN + draws[:, 1]
        earn_idx, earn_s = idx[keep], surprise[keep]
        jump[earn_idx + 1] = 1.4 * (earn_s - EARNINGS_SURPRISE_MEAN) + 2.4 * draws[keep, 2]

    age = np.maximum((grid - np.datetime64(p.inception, "D")).astype(float) / 365.25, 0.0)
    a0, tau = p.adoption
    mu = (p.drift + a0 * np.exp(-age / tau)) / per_year
    sigma = np.sqrt(p.s_market**2 * m_h + p.s_sector**2 * s_h + p.s_idio**2 * i_h)
    x = mu + p.s_market * m_e + p.s_sector * s_e + p.s_idio * (i_e + jump)
    if p.kind == "stable":
        # A peg: small noise around 1, no compounding.
        level = np.log(p.start_price) + 2e-3 * i_e
        x = np.diff(np.concatenate([[np.log(p.start_price)], level]))
        sigma = np.full(n_t, 2e-3)
    x, sigma, jump = x[inc:], sigma[inc:], jump[inc:]
    days = grid[inc:]
    n = len(days)
    log_adj = np.log(p.start_price) + np.cumsum(x)
    adj = np.exp(log_adj)

    factor, dividends, splits = _corporate_actions(seed, p, days, adj, first_year, last_year)

    # Intraday shape in log units relative to the previous adjusted close.
    u = stream(seed, "ohlc", sym).standard_normal((n_t, 4))[inc:]
    # Crypto trades through midnight (open = previous close); stocks gap overnight.
    gap = 0.02 * sigma * u[:, 0] if crypto else 0.25 * x + 0.3 * sigma * u[:, 0]
    hi = np.maximum(gap, x) + np.abs(0.45 * sigma * u[:, 1])
    lo = np.minimum(gap, x) - np.abs(0.45 * sigma * u[:, 2])
    prev = adj * np.exp(-x) * factor
    close = _round_price(adj * factor, crypto)
    open_ = _round_price(prev * np.exp(gap), crypto)
    high = _round_price(prev * np.exp(hi), crypto)
    low = _round_price(prev * np.exp(lo), crypto)
    vwap = _round_price((high + low + close) / 3.0, crypto)

    z = (x - mu[inc:]) / sigma
    noise = lfilter([0.25], [1.0, -0.85], u[:, 3])
    log_dv = np.log(p.dollar_volume) + 0.8 * (log_adj - log_adj[0]) + 0.35 * np.abs(z) + noise
    volume = np.exp(log_dv) / vwap
    volume = np.round(volume, 4) if crypto else np.maximum(np.round(volume), 100.0)

    earn_keep = earn_idx >= inc
    earnings = {}
    if p.earnings_day:
        idx = earn_idx[earn_keep] - inc
        price = adj[idx] * factor[idx]
        consensus = price / (4.0 * p.pe)
        base = np.maximum(np.abs(consensus), 0.002 * price)
        actual = consensus + 0.08 * base * earn_s[earn_keep]
        earnings = {"idx": idx, "actual": np.round(actual, 2), "consensus": np.round(consensus, 2)}
    sector_z = s_e[inc:] if p.kind != "stable" else np.zeros(n)
    return SymbolPath(
        profile=p,
        days=days,
        dates=as_dates(days),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        vwap=vwap,
        log_return=x,
        zscore=z,
        sector_z=sector_z,
        earnings=earnings,
        dividends=dividends,
        splits=splits,
    )


def _corporate_actions(seed, p: Profile, days, adj, first_year, last_year):
    """Unadjusted/adjusted price factor per session, dividends and splits.

    On an ex-dividend day close = previous close * (1 + r) - D; on a split ex-date the price
    divides by the ratio. Both are steps of one multiplicative factor, found event by event.
    """
    n = len(days)
    factor = np.ones(n)
    div_idx = np.empty(0, dtype=int)
    if p.dividend_yield > 0:
        months = tuple(p.dividend_month + 3 * q for q in range(4))
        when = _quarter_dates(
            first_year,
            last_year,
            months,
            np.full(4 * (last_year - first_year + 1), p.dividend_day - 1),
        )
        div_idx = np.unique(np.searchsorted(days, when))
        div_idx = div_idx[(div_idx >= 60) & (div_idx < n)]
    d_out, s_out = [], []
    cur, t, k = 1.0, 0, 0
    amount, amount_year = 0.0, -1
    pending = None
    thr = p.split_threshold
    while t < n:
        if thr and pending is None:
            over = np.flatnonzero(adj[t:] * cur > thr)
            if over.size:
                pending = t + int(over[0]) + SPLIT_LAG
        nd = int(div_idx[k]) if k < len(div_idx) else n
        ns = pending if pending is not None else n
        ev = min(nd, ns, n)
        factor[t:ev] = cur
        if ev >= n:
            break
        if ev == ns:
            pre = adj[ev - 1] * cur
            ratio = min(SPLIT_RATIOS, key=lambda r: abs(np.log(pre / r / 120.0)))
            cur /= ratio
            amount /= ratio
            s_out.append((ev, float(ratio)))
            pending = None
        if ev == nd:
            pre = adj[ev] * cur
            year = int(str(days[ev])[:4])
            if year != amount_year:
                proposal = round(p.dividend_yield / 4.0 * adj[ev - 1] * cur, 2)
                if p.spec.asset_class == "stock" and amount > 0:
                    proposal = max(proposal, amount) if proposal > 0.5 * amount else proposal
                amount, amount_year = max(proposal, 0.01), year
            if amount < 0.5 * pre:
                cur *= 1.0 - amount / pre
                d_out.append((ev, amount))
            k += 1
        t = ev
    factor[t:] = cur
    dividends = {
        "idx": np.array([d for d, _ in d_out], dtype=int),
        "amount": np.array([a for _, a in d_out]),
    }
    splits = {
        "idx": np.array([s for s, _ in s_out], dtype=int),
        "ratio": np.array([r for _, r in s_out]),
    }
    return factor, dividends, splits

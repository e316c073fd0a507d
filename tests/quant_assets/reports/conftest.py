"""Small hand-built SOD and EOD reports covering every section, plus chart inputs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quant_assets.reports.model import (
    Change,
    Condition,
    DrawdownState,
    EconomicEvent,
    EODReport,
    ExposureRow,
    Fill,
    Leg,
    Limit,
    PnLAttribution,
    PnLRow,
    Position,
    PositionEvent,
    Recommendation,
    RiskBudget,
    ScenarioPnL,
    Sizing,
    SODReport,
    StrategyStats,
    VarRow,
)

AS_OF = dt.date(2026, 11, 20)


def price_history(seed: int = 1, n: int = 260, start: float = 100.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    dates = pd.bdate_range(end=pd.Timestamp(AS_OF) - pd.Timedelta(days=1), periods=n)
    return pd.DataFrame({"close": close}, index=pd.Index(dates, name="date"))


def fan_summary(seed: int = 3, paths: int = 500, days: int = 21) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cum = np.exp(np.cumsum(rng.normal(0.0002, 0.01, (paths, days)), axis=1)) - 1.0
    q = np.percentile(cum, [5, 25, 50, 75, 95], axis=0)
    frame = pd.DataFrame(q.T, columns=["p5", "p25", "p50", "p75", "p95"])
    frame.index = pd.RangeIndex(1, days + 1, name="day")
    return frame


def correlation(symbols: list[str], seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    common = rng.normal(size=(250, 1))
    r = 0.6 * common + rng.normal(size=(250, len(symbols)))
    return pd.DataFrame(np.corrcoef(r, rowvar=False), index=symbols, columns=symbols)


def risk_budget() -> RiskBudget:
    return RiskBudget(
        source="risk/risk_budget",
        equity=1_000_000.0,
        gross_exposure=0.85,
        net_exposure=0.42,
        gross_limit=1.5,
        net_limit=1.0,
        var=[
            VarRow(
                method="historical",
                level=0.95,
                horizon_days=1,
                var=0.0123,
                cvar=0.0187,
                var_money=12_300.0,
                cvar_money=18_700.0,
            ),
            VarRow(
                method="normal",
                level=0.99,
                horizon_days=10,
                var=0.0541,
                cvar=0.0622,
                var_money=54_100.0,
                cvar_money=62_200.0,
                source="risk/var_normal",
            ),
        ],
        drawdown=DrawdownState(
            state="normal",
            drawdown=0.034,
            equity=1_000_000.0,
            peak_equity=1_035_196.0,
            derisk_at=0.10,
            halt_at=0.20,
            scale=1.0,
        ),
        exposure_by_group=[
            ExposureRow(group="etf_core", gross=0.45, net=0.35, limit=0.6),
            ExposureRow(group="us_megacap", gross=0.30, net=-0.05, limit=0.4),
        ],
        limits=[Limit(name="max position", unit="pct", value=0.08, limit=0.10)],
        scenarios=[
            ScenarioPnL(scenario="GFC 2008", pnl=-84_500.0, pnl_pct=-0.0845),
            ScenarioPnL(scenario="rates +100bp", pnl=12_250.5, pnl_pct=0.01225),
        ],
        correlation=correlation(["SPY", "QQQ", "KO", "PEP"]),
        mc_fan=fan_summary(),
        mc_note="21 trading days, 500 bootstrap paths",
    )


def make_sod(is_sample: bool = True) -> SODReport:
    spy = Recommendation(
        source="strategies/recommendations",
        strategy="trend_sma",
        symbol="SPY",
        side="long",
        action="enter",
        order="BUY 120 SPY",
        qty=120,
        weight=0.0641,
        notional=64_080.0,
        entry=534.0,
        stop=(521.37, "strategies/stops"),
        target=560.25,
        horizon="5-20 days",
        rationale="Close crossed above the 50-day SMA with rising breadth.",
        conditions=[
            Condition(name="close > sma_50", unit="price", value=534.0, op=">", threshold=529.12),
            Condition(name="tr_rsi_14", unit="number", value=61.4, op="<", threshold=70),
        ],
        stats=StrategyStats(
            sharpe=1.12,
            hit_rate=0.547,
            profit_factor=1.63,
            expected_value=0.0042,
            max_drawdown=0.123,
            n_trades=312,
            period="2010-01-04..2026-11-19",
            source="strategies/backtest_stats",
        ),
        sizing=Sizing(
            rule="volatility target 10% annualised",
            detail="ATR(14) stop distance",
            limits=[
                Limit(name="single name", unit="pct", value=0.0641, limit=0.08),
                Limit(name="book gross", unit="pct", value=0.85, limit=1.5, binding=True),
            ],
        ),
        events=[
            PositionEvent(
                date=dt.date(2026, 11, 21), kind="economic", name="CPI release", symbol="SPY"
            )
        ],
        scenarios=[ScenarioPnL(scenario="GFC 2008", pnl=-22_428.0, pnl_pct=-0.35)],
        history=price_history(1, start=480.0),
    )
    pair = Recommendation(
        source="strategies/recommendations",
        strategy="pairs_meanrev",
        symbol="KO/PEP",
        side="long",
        action="resize",
        order="BUY 20 KO; SELL 10 PEP",
        legs=[
            Leg(symbol="KO", side="long", qty=500, weight=0.031, notional=31_000.0, price=62.0),
            Leg(
                symbol="PEP",
                side="short",
                qty=-180,
                weight=-0.0306,
                notional=-30_600.0,
                price=170.0,
            ),
        ],
        conditions=[Condition(name="spread z-score", value=-2.31, op="<", threshold=-2.0)],
        stats=StrategyStats(sharpe=0.84, hit_rate=0.61, profit_factor=float("inf"), n_trades=58),
    )
    btc = Recommendation(
        source="strategies/recommendations",
        strategy="breakout",
        symbol="BTC-USD",
        side="short",
        action="carry",
        qty=0.35,
        notional=-33_512.75,
        entry=95_750.75,
        stop=98_100.0,
        target=89_000.0,
        history=price_history(2, start=70_000.0),
    )
    return SODReport(
        as_of=AS_OF,
        generated_at=dt.datetime(2026, 11, 20, 12, 30, tzinfo=dt.UTC),
        is_sample=is_sample,
        recommendations=[spy, pair, btc],
        events_today=[
            EconomicEvent(
                release_date=AS_OF,
                event_code="NFP",
                name="Nonfarm payrolls",
                release_time=dt.datetime(2026, 11, 20, 13, 30, tzinfo=dt.UTC),
                period="2026-10",
                consensus=180,
                previous=254.5,
                unit="K",
                source="events/economic_events",
            ),
            EconomicEvent(
                release_date=AS_OF,
                event_code="UMICH",
                name="Consumer sentiment",
                consensus=71.2,
                previous=70.5,
                source="events/economic_events",
            ),
        ],
        position_events=[
            PositionEvent(
                date=AS_OF,
                kind="earnings",
                name="Q3 earnings",
                symbol="PEP",
                detail="before the open",
            )
        ],
        risk=risk_budget(),
        notes=["Universe: etf_core, us_megacap, crypto_top10 <b>bold</b>"],
    )


def make_eod(is_sample: bool = False) -> EODReport:
    equity = pd.Series(
        1_000_000.0 * np.exp(np.cumsum(np.random.default_rng(5).normal(0.0003, 0.008, 250))),
        index=pd.bdate_range(end=pd.Timestamp(AS_OF), periods=250),
    )
    return EODReport(
        as_of=AS_OF,
        is_sample=is_sample,
        source="execution/eod",
        pnl=PnLAttribution(
            source="risk/pnl_attribution",
            total=4_321.09,
            total_return=0.004321,
            by_strategy=[
                PnLRow(name="trend_sma", pnl=5_000.0, ret=0.005),
                PnLRow(name="pairs_meanrev", pnl=-678.91, ret=-0.000679),
            ],
            by_group=[PnLRow(name="etf_core", pnl=3_100.0, ret=0.0031)],
            by_position=[
                PnLRow(name="SPY", pnl=5_000.0, ret=0.005),
                PnLRow(name="PEP", pnl=-678.91, ret=-0.000679),
            ],
        ),
        positions=[
            Position(
                symbol="SPY",
                qty=120,
                strategy="trend_sma",
                group="etf_core",
                avg_price=534.0,
                last_price=575.67,
                market_value=69_080.4,
                weight=0.069,
                unrealized_pnl=5_000.4,
                day_pnl=5_000.0,
                source="execution/positions",
            ),
            Position(
                symbol="ETH-USD",
                qty=1.23456789,
                last_price=3_210.5,
                market_value=3_963.5,
                source="execution/positions",
            ),
        ],
        fills=[
            Fill(
                time=dt.datetime(2026, 11, 20, 14, 31, 5, tzinfo=dt.UTC),
                symbol="SPY",
                side="buy",
                qty=120,
                price=534.02,
                notional=64_082.4,
                fee=1.2,
                strategy="trend_sma",
                order_id="trend-SPY-20261120",
                source="execution/fills",
            )
        ],
        drawdown=DrawdownState(
            state="derisk",
            drawdown=0.1234,
            derisk_at=0.10,
            halt_at=0.20,
            scale=0.5,
            source="risk/drawdown",
        ),
        changes=[
            Change(kind="opened", symbol="SPY", strategy="trend_sma", qty_before=0, qty_after=120),
            Change(
                kind="signal_flipped",
                symbol="QQQ",
                strategy="trend_sma",
                before="long",
                after="flat",
                detail="close < sma_50",
            ),
        ],
        calendar_tomorrow=[
            EconomicEvent(
                release_date=dt.date(2026, 11, 21),
                event_code="CPI",
                name="Consumer prices",
                consensus=0.3,
                previous=0.2,
                unit="% m/m",
                source="events/economic_events",
            )
        ],
        events_tomorrow=[
            PositionEvent(
                date=dt.date(2026, 11, 21), kind="dividend", name="ex-dividend", symbol="KO"
            )
        ],
        risk=risk_budget(),
        equity_curve=equity,
    )


@pytest.fixture
def sod_report() -> SODReport:
    return make_sod()


@pytest.fixture
def eod_report() -> EODReport:
    return make_eod()


@pytest.fixture
def build():
    """The builders above, for tests that need variants (tests cannot import conftest)."""
    import types

    return types.SimpleNamespace(
        price_history=price_history,
        fan_summary=fan_summary,
        correlation=correlation,
        sod=make_sod,
        eod=make_eod,
        as_of=AS_OF,
    )


@pytest.fixture(scope="session")
def rendered_sod():
    """The SOD fixture rendered once with charts (RenderedReport is immutable)."""
    from quant_assets.reports import render

    return render(make_sod())


@pytest.fixture(scope="session")
def rendered_eod():
    from quant_assets.reports import render

    return render(make_eod())

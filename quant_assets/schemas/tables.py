"""The warehouse tables: one declaration that DDL, validation and readers all derive from.

Keeping columns, keys and slice columns in one place means the DuckDB and PostgreSQL
backends, the pandera contracts and the dbt sources cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["text", "date", "timestamp", "double", "bigint", "boolean"]

RAW_SCHEMAS = ("market_data", "events", "macro", "news")
ALL_SCHEMAS = (*RAW_SCHEMAS, "derived", "strategies", "execution", "ops")


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType
    nullable: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    # Date column a Dagster partition slices on (replace_slice deletes by it).
    date_column: str | None = None
    doc: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def fqn(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"table {self.fqn} has no column {name!r}")


def _c(name: str, type_: ColumnType, nullable: bool = False, doc: str = "") -> Column:
    return Column(name, type_, nullable, doc)


_SOURCE = (
    _c("source", "text", doc="adapter that produced the row: polygon, sample, files, ..."),
    _c("is_sample", "boolean", doc="true for rows made by the offline sample generator"),
)

INSTRUMENTS = Table(
    "market_data",
    "instruments",
    (
        _c("symbol", "text", doc="canonical symbol"),
        _c("name", "text"),
        _c("asset_class", "text", doc="etf | stock | crypto"),
        _c("sector", "text"),
        _c("groups", "text", doc="comma-separated group names"),
        _c("tags", "text", nullable=True, doc="comma-separated tags"),
        _c("exchange", "text"),
        _c("calendar", "text", doc="pandas-market-calendars name: NYSE or 24/7"),
    ),
    primary_key=("symbol",),
    doc="The universe as loaded from universe.yaml; replaced whole on each load.",
)

INSTRUMENT_GROUPS = Table(
    "market_data",
    "instrument_groups",
    (_c("symbol", "text"), _c("group_name", "text")),
    primary_key=("symbol", "group_name"),
    doc="One row per (symbol, group): what cross-sectional ranks partition by.",
)

OHLCV_DAILY = Table(
    "market_data",
    "ohlcv_daily",
    (
        _c("symbol", "text", doc="canonical symbol from universe.yaml"),
        _c("date", "date", doc="bar date, exchange-local (UTC date for crypto)"),
        _c("open", "double"),
        _c("high", "double"),
        _c("low", "double"),
        _c("close", "double", doc="unadjusted close"),
        _c("volume", "double", doc="shares or coins traded"),
        _c("vwap", "double", nullable=True),
        *_SOURCE,
    ),
    primary_key=("symbol", "date", "source"),
    date_column="date",
    doc=(
        "Daily bars as delivered: prices and volume as traded, not adjusted for splits or "
        "dividends; adjustment happens in dbt (fct_returns_daily, fct_adjusted_prices)."
    ),
)

SECURITY_EVENTS = Table(
    "events",
    "security_events",
    (
        _c("symbol", "text"),
        _c("event_date", "date", doc="ex-date for dividends/splits, report date for earnings"),
        _c("event_type", "text", doc="earnings | dividend | split"),
        _c("value", "double", doc="EPS actual, cash dividend per share, or split ratio new/old"),
        _c("consensus", "double", nullable=True, doc="EPS consensus for earnings"),
        _c("details", "text", nullable=True),
        *_SOURCE,
    ),
    primary_key=("symbol", "event_date", "event_type", "source"),
    date_column="event_date",
)

ECONOMIC_EVENTS = Table(
    "events",
    "economic_events",
    (
        _c("event_code", "text", doc="CPI, NFP, FOMC, GDP, RETAIL_SALES, PCE, ..."),
        _c("name", "text"),
        _c("country", "text"),
        _c("release_time", "timestamp", doc="UTC instant of the release"),
        _c("release_date", "date", doc="exchange-local date of the release"),
        _c("period", "text", nullable=True, doc="reference period, e.g. 2024-05"),
        _c("actual", "double", nullable=True),
        _c("consensus", "double", nullable=True),
        _c("previous", "double", nullable=True),
        _c("unit", "text", nullable=True),
        *_SOURCE,
        # Last: migration 0006 appends it to existing tables, so new and migrated tables
        # have one column order.
        _c(
            "consensus_source",
            "text",
            nullable=True,
            doc="'model': consensus is the expectation model's (quant_assets.sources."
            "expectations), not a survey; null: as the source delivered it",
        ),
    ),
    primary_key=("event_code", "release_date", "source"),
    date_column="release_date",
)

GEOPOLITICAL_EVENTS = Table(
    "events",
    "geopolitical_events",
    (
        _c("event_id", "text"),
        _c("event_time", "timestamp", doc="UTC"),
        _c("event_date", "date"),
        _c("country", "text", nullable=True),
        _c("category", "text", doc="conflict | election | sanctions | disaster | trade | other"),
        _c("title", "text"),
        _c("severity", "double", nullable=True, doc="0 (minor) .. 10 (major)"),
        _c("tone", "double", nullable=True, doc="GDELT-style tone, negative is hostile"),
        _c("url", "text", nullable=True),
        *_SOURCE,
    ),
    primary_key=("event_id", "source"),
    date_column="event_date",
)

MACRO_OBSERVATIONS = Table(
    "macro",
    "observations",
    (
        _c("series_id", "text", doc="FRED id, e.g. CPIAUCSL, PAYEMS, GDP, or World Bank indicator"),
        _c("date", "date", doc="observation period start"),
        _c("realtime_start", "date", doc="first day this value was known (ALFRED vintage)"),
        _c("realtime_end", "date", doc="last day this value was current; 9999-12-31 if still"),
        _c("value", "double", nullable=True, doc="null where the vendor reports missing"),
        *_SOURCE,
    ),
    primary_key=("series_id", "date", "realtime_start", "source"),
    date_column="realtime_start",
    doc="Every vintage of every observation, so point-in-time reads need no look-ahead.",
)

NEWS_ARTICLES = Table(
    "news",
    "articles",
    (
        _c("article_id", "text", doc="sha1 of the url"),
        _c("published_at", "timestamp", doc="UTC"),
        _c("published_date", "date", doc="UTC date of published_at"),
        _c("title", "text"),
        _c("description", "text", nullable=True),
        _c("url", "text"),
        _c("publisher", "text", nullable=True),
        _c("symbols", "text", nullable=True, doc="comma-separated canonical symbols"),
        *_SOURCE,
    ),
    primary_key=("article_id", "source"),
    date_column="published_date",
)

ARTICLE_SENTIMENT = Table(
    "news",
    "article_sentiment",
    (
        _c("article_id", "text"),
        _c("symbol", "text"),
        _c("published_at", "timestamp"),
        _c("published_date", "date"),
        _c("channel", "text", doc="news | social"),
        _c("vader_compound", "double", doc="VADER compound score, -1..1"),
        _c("lm_score", "double", doc="Loughran-McDonald (pos-neg)/(pos+neg), -1..1, 0 if none"),
        _c("score", "double", doc="combined score used downstream, -1..1"),
        *_SOURCE,
    ),
    primary_key=("article_id", "symbol", "channel", "source"),
    date_column="published_date",
)

SENTIMENT_DAILY = Table(
    "news",
    "sentiment_daily",
    (
        _c("symbol", "text"),
        _c("date", "date"),
        _c("channel", "text", doc="news | social"),
        _c("n_items", "bigint"),
        _c("score_mean", "double"),
        _c("score_sum", "double"),
        *_SOURCE,
    ),
    primary_key=("symbol", "date", "channel", "source"),
    date_column="date",
)

QUARANTINE = Table(
    "ops",
    "quarantine",
    (
        _c("batch_id", "text"),
        _c("table_name", "text", doc="fully-qualified target table"),
        _c("source", "text", nullable=True),
        _c("reason", "text", doc="which rule failed, naming the field and the value"),
        _c("row_json", "text", doc="the rejected row as JSON, nothing dropped"),
        _c("quarantined_at", "timestamp"),
    ),
    primary_key=(),
)

INGESTION_LOG = Table(
    "ops",
    "ingestion_log",
    (
        _c("batch_id", "text"),
        _c("table_name", "text"),
        _c("source", "text", nullable=True),
        _c("partition_key", "text", nullable=True),
        _c("rows_loaded", "bigint"),
        _c("rows_quarantined", "bigint"),
        _c("started_at", "timestamp"),
        _c("finished_at", "timestamp"),
    ),
    primary_key=("batch_id", "table_name"),
)

# TA-Lib indicators by their plain names, as charts compute them on split-adjusted bars
# (`strategy.indicators.price_scale_indicators`). The table stores them computed on the
# total-return bars, so each column carries the `tr_` prefix (as `tr_index` does): a name
# never means two scales.
INDICATOR_NAMES = (
    "sma_20", "sma_50", "ema_12", "ema_26", "rsi_14", "macd", "macd_signal", "macd_hist",
    "bb_upper", "bb_middle", "bb_lower", "atr_14", "adx_14", "obv", "stoch_k", "stoch_d",
    "cci_20", "willr_14", "mfi_14",
)  # fmt: skip
TOTAL_RETURN_PREFIX = "tr_"
# Price-level outputs (units of the input prices); the others are scale-free oscillators
# (rsi, stoch, adx, cci, willr, mfi) or volume (obv).
PRICE_LEVEL_INDICATORS = (
    "sma_20", "sma_50", "ema_12", "ema_26", "macd", "macd_signal", "macd_hist",
    "bb_upper", "bb_middle", "bb_lower", "atr_14",
)  # fmt: skip


def _indicator_doc(name: str) -> str:
    if name in PRICE_LEVEL_INDICATORS:
        unit = "total-return-index units (not comparable with close; see fct_features_daily.sma_*)"
    elif name == "obv":
        unit = "shares as traded, signed by the total-return index's daily change"
    else:
        unit = "scale-free, computed on the total-return bars"
    return f"TA-Lib {name} of the total-return bars; {unit}; null in warm-up"


TECHNICAL_INDICATORS = Table(
    "derived",
    "technical_indicators",
    (
        _c("symbol", "text"),
        _c("date", "date"),
        *(
            _c(TOTAL_RETURN_PREFIX + name, "double", nullable=True, doc=_indicator_doc(name))
            for name in INDICATOR_NAMES
        ),
    ),
    primary_key=("symbol", "date"),
    date_column="date",
    doc=(
        "TA-Lib indicators on the point-in-time total-return bars (each bar's OHLC x "
        "tr_index / close): splits and dividends are continuous (reinvested), no bar uses "
        "a later event. The scale for signals; every column is prefixed tr_. Charts compute "
        "the same indicators under their plain names on split-adjusted bars at read time."
    ),
)

# --- execution: the OMS, the paper broker's state, reconciliation and the kill switch ----------

_ORDER_FIELDS = (
    _c("symbol", "text"),
    _c("side", "text", doc="buy | sell"),
    _c("qty", "double", doc="positive quantity in shares or coins"),
    _c("order_type", "text", doc="market | limit | stop | stop_limit"),
    _c("limit_price", "double", nullable=True),
    _c("stop_price", "double", nullable=True),
    _c("time_in_force", "text", doc="day | gtc"),
)

EXECUTION_ORDERS = Table(
    "execution",
    "orders",
    (
        _c("client_order_id", "text", doc="deterministic broker client id, <= 36 of [A-Za-z0-9-_]"),
        _c("parent_id", "text", nullable=True, doc="id of the multi-leg order this leg belongs to"),
        _c("strategy", "text", doc="label of the strategy that asked for it (used in the id)"),
        _c("trade_date", "date", doc="decision date the order belongs to"),
        _c("leg", "text", nullable=True, doc="leg label of a pair/switch/fly"),
        _c("ratio", "double", nullable=True, doc="signed leg ratio of a multi-leg order"),
        _c("intent", "text", doc="why the order exists: rebalance, close, ..."),
        *_ORDER_FIELDS,
        _c("status", "text", doc="new|submitted|partially_filled|filled|cancelled|rejected"),
        _c("filled_qty", "double"),
        _c("avg_fill_price", "double", nullable=True),
        _c("broker", "text", nullable=True, doc="broker the order was sent to"),
        _c("broker_order_id", "text", nullable=True),
        _c("reason", "text", nullable=True, doc="rejection reason: the check and its numbers"),
        _c("created_at", "timestamp"),
        _c("updated_at", "timestamp"),
    ),
    primary_key=("client_order_id",),
    date_column="trade_date",
    doc="Current state of every order; the history is in execution.order_events.",
)

EXECUTION_ORDER_EVENTS = Table(
    "execution",
    "order_events",
    (
        _c("client_order_id", "text"),
        _c("seq", "bigint", doc="0 for creation, +1 per state change"),
        _c("event_time", "timestamp"),
        _c("from_status", "text", nullable=True, doc="null for the creation event"),
        _c("to_status", "text"),
        _c("filled_qty", "double", doc="cumulative filled quantity after the event"),
        _c("avg_fill_price", "double", nullable=True),
        _c("broker_order_id", "text", nullable=True),
        _c("reason", "text", nullable=True),
    ),
    primary_key=("client_order_id", "seq"),
    doc="Append-only log of every order state change; a repeated seq fails the write.",
)

EXECUTION_FILLS = Table(
    "execution",
    "fills",
    (
        _c("broker", "text"),
        _c("fill_id", "text", doc="broker execution id"),
        _c("client_order_id", "text"),
        _c("symbol", "text"),
        _c("side", "text"),
        _c("qty", "double"),
        _c("price", "double", doc="fill price, costs of spread and slippage included"),
        _c("commission", "double"),
        _c("spread_cost", "double", nullable=True, doc="paper broker: half-spread x qty"),
        _c("slippage_cost", "double", nullable=True, doc="paper broker: slippage x qty"),
        _c("fill_time", "timestamp"),
        _c("trade_date", "date", doc="date of the bar (paper) or UTC date of the fill"),
    ),
    primary_key=("broker", "fill_id"),
    date_column="trade_date",
    doc="Fills as reported by brokers, recorded by the OMS.",
)

EXECUTION_PAPER_ORDERS = Table(
    "execution",
    "paper_orders",
    (
        _c("account", "text"),
        _c("client_order_id", "text"),
        _c("broker_order_id", "text"),
        *_ORDER_FIELDS,
        _c("trade_date", "date"),
        _c("status", "text"),
        _c("filled_qty", "double"),
        _c("fill_price", "double", nullable=True),
        _c("commission", "double", nullable=True),
        _c("spread_cost", "double", nullable=True),
        _c("slippage_cost", "double", nullable=True),
        _c("fill_date", "date", nullable=True),
        _c("reason", "text", nullable=True),
        _c("submitted_at", "timestamp"),
        _c("updated_at", "timestamp"),
    ),
    primary_key=("account", "client_order_id"),
    date_column="trade_date",
    doc="The paper broker's own order book (its side of reconciliation).",
)

EXECUTION_POSITIONS = Table(
    "execution",
    "positions",
    (
        _c("account", "text"),
        _c("symbol", "text"),
        _c("qty", "double", doc="signed; 0 once closed"),
        _c("avg_price", "double", nullable=True),
        _c("updated_at", "timestamp"),
    ),
    primary_key=("account", "symbol"),
    doc="Paper broker positions.",
)

EXECUTION_ACCOUNTS = Table(
    "execution",
    "accounts",
    (
        _c("account", "text"),
        _c("cash", "double"),
        _c("initial_cash", "double"),
        _c("updated_at", "timestamp"),
    ),
    primary_key=("account",),
    doc="Paper broker cash.",
)

EXECUTION_RECONCILIATION_BREAKS = Table(
    "execution",
    "reconciliation_breaks",
    (
        _c("run_id", "text"),
        _c("run_time", "timestamp"),
        _c("broker", "text"),
        _c("symbol", "text"),
        _c("oms_qty", "double"),
        _c("broker_qty", "double"),
        _c("diff", "double", doc="broker_qty - oms_qty"),
    ),
    primary_key=("run_id", "symbol"),
    doc="Positions where the broker and the OMS disagree, one row per symbol per run.",
)

EXECUTION_KILL_SWITCH = Table(
    "execution",
    "kill_switch",
    (
        _c("event_id", "text"),
        _c("changed_at", "timestamp"),
        _c("active", "boolean"),
        _c("changed_by", "text"),
        _c("reason", "text", nullable=True),
    ),
    primary_key=("event_id",),
    doc="Every toggle of the kill switch; the latest row is the state.",
)

EXECUTION_APPROVALS = Table(
    "execution",
    "approvals",
    (
        _c("decision_id", "text"),
        _c("trade_date", "date", doc="decision date of the order set"),
        _c("decision", "text", doc="approved | rejected | expired"),
        _c("decided_by", "text", doc="login, API key label, 'auto' or 'system' (expiry)"),
        _c("decided_at", "timestamp"),
        _c("channel", "text", doc="cli | api | streamlit | auto | system"),
        _c("order_ids", "text", doc="JSON list of the client order ids the decision covers"),
        _c("n_orders", "bigint"),
        _c("reason", "text", nullable=True),
    ),
    primary_key=("decision_id",),
    date_column="trade_date",
    doc="Every approval decision on a day's order set: who, when, which orders.",
)

EXECUTION_PACKAGES = Table(
    "execution",
    "packages",
    (
        _c("parent_id", "text", doc="parent id shared by the legs in execution.orders"),
        _c("kind", "text", doc="pair | switch | fly"),
        _c("strategy", "text"),
        _c("trade_date", "date"),
        _c("broker", "text", doc="route(s) the legs went to, comma-separated"),
        _c("legs", "text", doc="SYMBOL*ratio per leg, slash-separated"),
        _c(
            "status", "text", doc="working | filled | flattened | flattening | cancelled | rejected"
        ),
        _c("mode", "text", doc="combo (one broker order) | legs (coordinated single orders)"),
        _c("reference_prices", "text", doc="JSON symbol -> price at decision"),
        _c(
            "legging_cost",
            "double",
            nullable=True,
            doc="money lost vs reference prices, unwinds and commission included",
        ),
        _c("reason", "text", nullable=True, doc="why the package broke"),
        _c("first_fill_at", "timestamp", nullable=True, doc="legging risk starts here"),
        _c("created_at", "timestamp"),
        _c("updated_at", "timestamp"),
    ),
    primary_key=("parent_id",),
    date_column="trade_date",
    doc="Multi-leg packages: their state and legging cost (legs in execution.orders).",
)

# --- outputs of simulation, strategy, ml and reports (schema `strategies`) ----------------

_AS_OF = _c("as_of", "date", doc="the day the output was computed for")

STRATEGY_SIGNALS = Table(
    "strategies",
    "signals",
    (
        _c("date", "date"),
        _c("strategy", "text"),
        _c("symbol", "text"),
        _c("leg", "text", doc="leg name within a multi-leg strategy; 'main' for single-leg"),
        _c("target_weight", "double", doc="fraction of strategy capital, signed"),
        _c("reason", "text", nullable=True, doc="conditions that fired, with their values"),
    ),
    primary_key=("date", "strategy", "symbol", "leg"),
    date_column="date",
)

RECOMMENDATIONS = Table(
    "strategies",
    "recommendations",
    (
        _c("date", "date", doc="the trading day the recommendation is for"),
        _c("strategy", "text"),
        _c("symbol", "text"),
        _c("leg", "text"),
        _c("side", "text", doc="buy | sell | hold | close"),
        _c("target_weight", "double"),
        _c("quantity", "double"),
        _c("notional", "double"),
        _c("entry_price", "double"),
        _c("stop_price", "double", nullable=True),
        _c("target_price", "double", nullable=True),
        _c("conditions", "text", doc="JSON: the conditions that fired with their values"),
        _c("sizing_rule", "text"),
        _c("sizing_reason", "text", doc="why this size: rule inputs and the limits that bound it"),
        _c("stats", "text", doc="JSON: the strategy's historical stats"),
        _c("events", "text", nullable=True, doc="JSON: upcoming events that touch the position"),
        _c("scenario_pnl", "text", nullable=True, doc="JSON: scenario -> PnL of this position"),
        _c("is_sample", "boolean"),
    ),
    primary_key=("date", "strategy", "symbol", "leg"),
    date_column="date",
)

BACKTEST_STATS = Table(
    "strategies",
    "backtest_stats",
    (_c("strategy", "text"), _AS_OF, _c("metric", "text"), _c("value", "double", nullable=True)),
    primary_key=("strategy", "as_of", "metric"),
    date_column="as_of",
    doc="Long format: total_return, cagr, sharpe, sortino, max_drawdown, ... and MC percentiles.",
)

EQUITY_CURVES = Table(
    "strategies",
    "equity_curves",
    (
        _c("strategy", "text"),
        _c("date", "date"),
        _c("equity", "double"),
        _c("drawdown", "double"),
        _c("daily_return", "double", nullable=True),
    ),
    primary_key=("strategy", "date"),
)

MONTE_CARLO = Table(
    "strategies",
    "monte_carlo",
    (
        _c("subject", "text", doc="strategy name or 'portfolio'"),
        _c("model", "text", doc="gbm | merton | garch | bootstrap | regime"),
        _AS_OF,
        _c("day", "bigint", doc="days ahead, 0 = as_of"),
        _c("p05", "double"),
        _c("p25", "double"),
        _c("p50", "double"),
        _c("p75", "double"),
        _c("p95", "double"),
    ),
    primary_key=("subject", "model", "as_of", "day"),
    date_column="as_of",
    doc="Fan chart: percentiles of cumulative return per day ahead.",
)

SCENARIO_RESULTS = Table(
    "strategies",
    "scenario_results",
    (
        _AS_OF,
        _c("scenario", "text"),
        _c("symbol", "text"),
        _c("group_name", "text", nullable=True),
        _c("market_value", "double"),
        _c("scenario_return", "double"),
        _c("pnl", "double"),
        _c("method", "text", nullable=True, doc="replay | proxied | factor"),
    ),
    primary_key=("as_of", "scenario", "symbol"),
    date_column="as_of",
)

EVENT_STUDY = Table(
    "strategies",
    "event_study",
    (
        _AS_OF,
        _c("event_class", "text"),
        _c("bucket", "text"),
        _c("group_name", "text"),
        _c("symbol", "text", doc="'all' for the group aggregate"),
        _c("n_events", "bigint"),
        _c("mean_car", "double", nullable=True),
        _c("std_car", "double", nullable=True),
        _c("t_stat", "double", nullable=True),
    ),
    primary_key=("as_of", "event_class", "bucket", "group_name", "symbol"),
    date_column="as_of",
)

RISK_SNAPSHOT = Table(
    "strategies",
    "risk_snapshot",
    (_AS_OF, _c("metric", "text"), _c("scope", "text"), _c("value", "double", nullable=True)),
    primary_key=("as_of", "metric", "scope"),
    date_column="as_of",
    doc="VaR/CVaR, gross/net exposure, drawdown and limit state; scope = portfolio or a group.",
)

PREDICTIONS = Table(
    "strategies",
    "predictions",
    (
        _c("date", "date"),
        _c("model", "text"),
        _c("model_version", "text"),
        _c("symbol", "text"),
        _c("score", "double"),
    ),
    primary_key=("date", "model", "symbol"),
    date_column="date",
)

REPORTS = Table(
    "strategies",
    "reports",
    (
        _c("report_date", "date"),
        _c("kind", "text", doc="sod | eod"),
        _c("html_path", "text"),
        _c("text_path", "text", nullable=True),
        _c("email_status", "text", doc="sent | not_configured | failed: <reason>"),
        _c("created_at", "timestamp"),
        _c("is_sample", "boolean"),
    ),
    primary_key=("report_date", "kind"),
    date_column="report_date",
)

LLM_MESSAGES = Table(
    "ops",
    "llm_messages",
    (
        _c("user_id", "text", doc="who asked: the API key's label, the OS user, or 'app'"),
        _c("session_id", "text", doc="one conversation; resumable by this id"),
        _c("seq", "bigint", doc="message order within the session, from 0"),
        _c("role", "text", doc="user | assistant | tool"),
        _c("content", "text", doc="the message text, or a tool result as JSON"),
        _c("tool_name", "text", nullable=True),
        _c("tool_args", "text", nullable=True, doc="a tool call's arguments as JSON"),
        _c("tool_call_id", "text", nullable=True),
        _c("sources", "text", nullable=True, doc="JSON list of {table, asset_key, partition}"),
        _c("status", "text", doc="ok | refused | error | budget"),
        _c("provider", "text", nullable=True),
        _c("model", "text", nullable=True),
        _c("tokens", "bigint", doc="tokens the provider reported for the call behind this row"),
        _c("elapsed_ms", "bigint", doc="wall time of the model call or tool run"),
        _c("created_at", "timestamp"),
    ),
    primary_key=("user_id", "session_id", "seq"),
    doc="LLM conversations (quant ask/chat, the Ask page, /v1/ask), one row per message.",
)

TABLES: dict[str, Table] = {
    t.fqn: t
    for t in (
        INSTRUMENTS,
        INSTRUMENT_GROUPS,
        OHLCV_DAILY,
        SECURITY_EVENTS,
        ECONOMIC_EVENTS,
        GEOPOLITICAL_EVENTS,
        MACRO_OBSERVATIONS,
        NEWS_ARTICLES,
        ARTICLE_SENTIMENT,
        SENTIMENT_DAILY,
        QUARANTINE,
        INGESTION_LOG,
        TECHNICAL_INDICATORS,
        EXECUTION_ORDERS,
        EXECUTION_ORDER_EVENTS,
        EXECUTION_FILLS,
        EXECUTION_PAPER_ORDERS,
        EXECUTION_POSITIONS,
        EXECUTION_ACCOUNTS,
        EXECUTION_RECONCILIATION_BREAKS,
        EXECUTION_KILL_SWITCH,
        EXECUTION_APPROVALS,
        EXECUTION_PACKAGES,
        STRATEGY_SIGNALS,
        RECOMMENDATIONS,
        BACKTEST_STATS,
        EQUITY_CURVES,
        MONTE_CARLO,
        SCENARIO_RESULTS,
        EVENT_STUDY,
        RISK_SNAPSHOT,
        PREDICTIONS,
        REPORTS,
        LLM_MESSAGES,
    )
}


def get_table(fqn: str) -> Table:
    """Look a table up by `schema.name`, with an error that lists what exists."""
    try:
        return TABLES[fqn]
    except KeyError:
        raise KeyError(f"unknown table {fqn!r}; known: {sorted(TABLES)}") from None

-- Split- and dividend-adjusted prices for research and charts. Backward adjustment: the
-- factor for date s multiplies the factors of every event after s,
--   f_t = close_t / ((close_t + dividend_t) * split_ratio_t)   on each event bar t,
-- so adj_close_t / adj_close_{t-1} - 1 equals fct_returns_daily.ret_simple exactly and the
-- latest adj_close equals the latest close. LOOK-AHEAD: adj_close on date s depends on events
-- after s; a backtest as of s must use fct_returns_daily / fct_features_daily instead.
with bars as (
    select symbol, date, open, high, low, close, volume, is_sample
    from {{ ref('stg_market_data__ohlcv_bars') }}
),

actions as (
    select symbol, date, split_ratio, dividend
    from {{ ref('int_corporate_actions_daily') }}
),

factors as (
    select
        b.*,
        coalesce(a.split_ratio, 1.0) as split_ratio,
        coalesce(a.dividend, 0.0) as dividend,
        case
            when a.symbol is null then 0.0
            else ln(b.close / ((b.close + a.dividend) * a.split_ratio))
        end as log_factor,
        case when a.symbol is null then 0.0 else ln(a.split_ratio) end as log_split
    from bars as b
    left join actions as a on a.symbol = b.symbol and a.date = b.date
),

cumulated as (
    select
        *,
        -- sum over the events strictly after this bar (a running sum walking backwards,
        -- which both backends compute in one pass)
        coalesce(sum(log_factor) over (
            partition by symbol order by date desc rows between unbounded preceding and 1 preceding
        ), 0.0) as log_adj_factor,
        coalesce(sum(log_split) over (
            partition by symbol order by date desc rows between unbounded preceding and 1 preceding
        ), 0.0) as log_split_factor
    from factors
)

select
    symbol,
    date,
    open,
    high,
    low,
    close,
    volume,
    split_ratio,
    dividend,
    exp(log_adj_factor) as adj_factor,
    open * exp(log_adj_factor) as adj_open,
    high * exp(log_adj_factor) as adj_high,
    low * exp(log_adj_factor) as adj_low,
    close * exp(log_adj_factor) as adj_close,
    -- volume in today's share count: only splits change it
    volume * exp(log_split_factor) as adj_volume,
    is_sample
from cumulated

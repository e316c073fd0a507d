{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['symbol', 'date'],
        on_schema_change='fail',
        tags=['incremental'],
    )
}}
-- Point-in-time daily total returns: from unadjusted closes plus the split and dividend that
-- take effect on the day itself, so a return on date t uses nothing after t.
--   gross_t = (close_t + dividend_t) * split_ratio_t / close_{t-1}
-- split-neutral (a 2:1 split halves close_t, split_ratio_t = 2 restores it) and
-- dividend-inclusive (CRSP RET definition). cum_log_return / tr_index accumulate from the
-- first bar; drawdown is measured from the running peak of that total-return index.
-- Incremental runs carry the running sums forward from the last stored row before the window.
with bars as (
    select symbol, date, close, is_sample
    from {{ ref('stg_market_data__ohlcv_bars') }}
    where {{ in_lookback('date') }}
),

actions as (
    -- same logic as int_corporate_actions_daily, computed on the lookback slice only
    {{ corporate_actions(in_lookback('date'), in_lookback('event_date')) }}
),

priced as (
    select
        b.symbol,
        b.date,
        b.close,
        b.is_sample,
        lag(b.close) over (partition by b.symbol order by b.date) as prev_close,
        coalesce(a.split_ratio, 1.0) as split_ratio,
        coalesce(a.dividend, 0.0) as dividend
    from bars as b
    left join actions as a on a.symbol = b.symbol and a.date = b.date
),

returns as (
    select
        *,
        (close + dividend) * split_ratio / prev_close as gross_return,
        close * split_ratio / prev_close as gross_price_return
    from priced
    where {{ in_window('date') }}
),

{% if is_incremental() %}
anchor as (
    select symbol, cum_log_return as anchor_cum, cum_log_return_peak as anchor_peak
    from (
        select
            symbol, cum_log_return, cum_log_return_peak,
            row_number() over (partition by symbol order by date desc) as rn
        from {{ this }}
        where date < {{ window_start('date') }}
    ) as last_rows
    where rn = 1
),
{% endif %}

cumulated as (
    select
        r.*,
        {% if is_incremental() %}coalesce(an.anchor_cum, 0.0) + {% endif -%}
        sum(coalesce(ln(r.gross_return), 0.0)) over (
            partition by r.symbol order by r.date rows between unbounded preceding and current row
        ) as cum_log_return
        {%- if is_incremental() %},
        an.anchor_peak
        {%- endif %}
    from returns as r
    {% if is_incremental() %}left join anchor as an on an.symbol = r.symbol{% endif %}
),

peaked as (
    select
        *,
        max(cum_log_return) over (
            partition by symbol order by date rows between unbounded preceding and current row
        ) as running_peak
    from cumulated
)

select
    symbol,
    date,
    close,
    prev_close,
    split_ratio,
    dividend,
    gross_return - 1 as ret_simple,
    ln(gross_return) as ret_log,
    gross_price_return - 1 as ret_price,
    cum_log_return,
    {% if is_incremental() -%}
    case when anchor_peak is not null and anchor_peak > running_peak then anchor_peak else running_peak end
    {%- else -%}
    running_peak
    {%- endif %} as cum_log_return_peak,
    exp(cum_log_return) as tr_index,
    exp(cum_log_return - {% if is_incremental() -%}
    case when anchor_peak is not null and anchor_peak > running_peak then anchor_peak else running_peak end
    {%- else -%}
    running_peak
    {%- endif %}) - 1 as drawdown,
    is_sample
from peaked

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['symbol', 'date'],
        on_schema_change='fail',
        tags=['incremental'],
    )
}}
-- Rolling price features per (symbol, date), each using only rows up to the date:
-- realised volatility of log total returns (sample stddev, annualised by sqrt(252) for
-- exchange calendars, sqrt(365) for 24/7 crypto), moving averages 20/50/200 in the price
-- units of the date (the total-return index rescaled so the last point is today's close,
-- i.e. the chart as adjusted on that day), total-return momentum over 21/63/126/252 rows,
-- and the z-score of the price against its 20-day mean (population stddev, as Bollinger).
-- A value is null until its window is full.
with r as (
    select symbol, date, close, ret_log, tr_index, is_sample
    from {{ ref('fct_returns_daily') }}
    where {{ in_lookback('date') }}
),

inst as (
    select symbol, periods_per_year from {{ ref('stg_market_data__instruments') }}
),

windowed as (
    select
        r.symbol,
        r.date,
        r.close,
        r.tr_index,
        r.is_sample,
        coalesce(inst.periods_per_year, 252.0) as periods_per_year,
        {%- for n in [20, 60] %}
        count(r.ret_log) over (partition by r.symbol order by r.date rows between {{ n - 1 }} preceding and current row) as n_ret_{{ n }},
        stddev_samp(r.ret_log) over (partition by r.symbol order by r.date rows between {{ n - 1 }} preceding and current row) as sd_ret_{{ n }},
        {%- endfor %}
        {%- for n in [20, 50, 200] %}
        count(r.tr_index) over (partition by r.symbol order by r.date rows between {{ n - 1 }} preceding and current row) as n_px_{{ n }},
        avg(r.tr_index) over (partition by r.symbol order by r.date rows between {{ n - 1 }} preceding and current row) as avg_tr_{{ n }},
        {%- endfor %}
        stddev_pop(r.tr_index) over (partition by r.symbol order by r.date rows between 19 preceding and current row) as sdpop_tr_20,
        {%- for k in [21, 63, 126, 252] %}
        lag(r.tr_index, {{ k }}) over (partition by r.symbol order by r.date) as tr_lag_{{ k }}{{ "," if not loop.last }}
        {%- endfor %}
    from r
    left join inst on inst.symbol = r.symbol
)

select
    symbol,
    date,
    close,
    {%- for n in [20, 60] %}
    case when n_ret_{{ n }} = {{ n }} then sd_ret_{{ n }} * sqrt(periods_per_year) end as vol_{{ n }},
    {%- endfor %}
    {%- for n in [20, 50, 200] %}
    case when n_px_{{ n }} = {{ n }} then close * avg_tr_{{ n }} / tr_index end as sma_{{ n }},
    {%- endfor %}
    case
        when n_px_20 = 20 and sdpop_tr_20 > 0 then (tr_index - avg_tr_20) / sdpop_tr_20
    end as zscore_20,
    {%- for k in [21, 63, 126, 252] %}
    tr_index / tr_lag_{{ k }} - 1 as mom_{{ k }},
    {%- endfor %}
    is_sample
from windowed
where {{ in_window('date') }}

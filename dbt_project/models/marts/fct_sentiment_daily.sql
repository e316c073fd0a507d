{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['symbol', 'date'],
        on_schema_change='fail',
        tags=['incremental'],
    )
}}
-- Daily sentiment per symbol on its bar calendar, with rolling 5- and 20-bar averages.
-- Averages are item-weighted (sum of scores / number of items in the window), so a quiet day
-- adds no weight instead of counting as neutral. Items of UTC date t count on bar t: use the
-- value with a one-bar lag when trading at the close of t.
with bars as (
    select symbol, date
    from {{ ref('stg_market_data__ohlcv_bars') }}
    where {{ in_lookback('date', days=60) }}
),

items as (
    -- same logic as int_sentiment_mapped_to_bars, computed on the lookback slice only
    {{ sentiment_on_bars(in_lookback('date', days=60), in_lookback('sentiment_date', days=60)) }}
),

dense as (
    select
        b.symbol,
        b.date,
        coalesce(i.n_items, 0) as n_items,
        coalesce(i.score_sum, 0.0) as score_sum,
        coalesce(i.news_items, 0) as news_items,
        coalesce(i.news_score_sum, 0.0) as news_score_sum,
        coalesce(i.social_items, 0) as social_items,
        coalesce(i.social_score_sum, 0.0) as social_score_sum
    from bars as b
    left join items as i on i.symbol = b.symbol and i.date = b.date
),

rolled as (
    select
        *,
        {%- for n in [5, 20] %}
        sum(n_items) over (partition by symbol order by date rows between {{ n - 1 }} preceding and current row) as n_items_{{ n }}d,
        sum(score_sum) over (partition by symbol order by date rows between {{ n - 1 }} preceding and current row) as score_sum_{{ n }}d{{ "," if not loop.last }}
        {%- endfor %}
    from dense
)

select
    symbol,
    date,
    n_items,
    case when n_items > 0 then score_sum / n_items end as score,
    case when news_items > 0 then news_score_sum / news_items end as news_score,
    case when social_items > 0 then social_score_sum / social_items end as social_score,
    {%- for n in [5, 20] %}
    n_items_{{ n }}d,
    case when n_items_{{ n }}d > 0 then score_sum_{{ n }}d / n_items_{{ n }}d end as score_ma_{{ n }}d{{ "," if not loop.last }}
    {%- endfor %}
from rolled
where {{ in_window('date') }}

{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['symbol', 'date'],
        on_schema_change='fail',
        tags=['incremental'],
    )
}}
-- The wide, point-in-time feature table models and strategies read: one row per
-- (symbol, bar date) holding only what was known at that date's close. Macro columns are the
-- vintage known on the date (var feature_macro_series); event flags mark security events
-- taking effect on the bar and economic releases / geopolitical events dated that day.
{%- set macro_series = var('feature_macro_series') %}
{%- set event_codes = var('feature_event_codes') %}
with returns as (
    select symbol, date, close, ret_simple, ret_log, tr_index, drawdown, is_sample
    from {{ ref('fct_returns_daily') }}
    where {{ in_window('date') }}
),

price_features as (
    select *
    from {{ ref('fct_price_features_daily') }}
    where {{ in_window('date') }}
),

instruments as (
    select symbol, asset_class, sector, primary_group
    from {{ ref('stg_market_data__instruments') }}
),

ranks as (
    select *
    from {{ ref('fct_group_momentum_ranks') }}
    where {{ in_window('date') }}
),

sentiment as (
    select symbol, date, n_items, score, score_ma_5d, score_ma_20d
    from {{ ref('fct_sentiment_daily') }}
    where {{ in_window('date') }}
),

actions as (
    select symbol, date, has_split, has_dividend, has_earnings, eps_actual, eps_consensus
    from ({{ corporate_actions(in_lookback('date', days=31), in_lookback('event_date', days=31)) }}) as ca
    where {{ in_window('date') }}
),

economic as (
    select
        release_date as date,
        count(*) as n_economic_events
        {%- for code in event_codes %},
        max(case when event_code = '{{ code }}' then 1 else 0 end) as is_{{ code | lower }}_day
        {%- endfor %}
    from {{ ref('stg_events__economic_events') }}
    where {{ in_window('release_date') }}
    group by release_date
),

geopolitical as (
    select event_date as date, count(*) as n_geo_events, max(severity) as geo_max_severity
    from {{ ref('stg_events__geopolitical_events') }}
    where {{ in_window('event_date') }}
    group by event_date
),

macro_long as (
    select *
    from ({{ macro_states_asof('select distinct date from returns') }}) as known_on_date
),

macro as (
    select
        date
        {%- for series in macro_series %}
        {%- set col = 'macro_' ~ modules.re.sub('[^a-z0-9]+', '_', series | lower) %},
        max(case when series_id = '{{ series }}' then value end) as {{ col }},
        max(case when series_id = '{{ series }}' then yoy end) as {{ col }}_yoy,
        max(case when series_id = '{{ series }}' then mom end) as {{ col }}_mom
        {%- endfor %}
    from macro_long
    group by date
)

select
    r.symbol,
    r.date,
    i.asset_class,
    i.sector,
    i.primary_group,
    r.close,
    r.ret_simple,
    r.ret_log,
    r.tr_index,
    pf.vol_20,
    pf.vol_60,
    pf.sma_20,
    pf.sma_50,
    pf.sma_200,
    pf.zscore_20,
    pf.mom_21,
    pf.mom_63,
    pf.mom_126,
    pf.mom_252,
    r.drawdown,
    {%- for k in [21, 63, 126, 252] %}
    rk.mom_{{ k }}_pct as mom_{{ k }}_group_pct,
    {%- endfor %}
    s.n_items as sent_n_items,
    s.score as sent_score,
    s.score_ma_5d as sent_score_ma_5d,
    s.score_ma_20d as sent_score_ma_20d,
    {%- for series in macro_series %}
    {%- set col = 'macro_' ~ modules.re.sub('[^a-z0-9]+', '_', series | lower) %}
    m.{{ col }},
    m.{{ col }}_yoy,
    m.{{ col }}_mom,
    {%- endfor %}
    coalesce(a.has_split, 0) as is_split_day,
    coalesce(a.has_dividend, 0) as is_dividend_day,
    coalesce(a.has_earnings, 0) as is_earnings_day,
    a.eps_actual - a.eps_consensus as eps_surprise,
    coalesce(e.n_economic_events, 0) as n_economic_events,
    {%- for code in event_codes %}
    coalesce(e.is_{{ code | lower }}_day, 0) as is_{{ code | lower }}_day,
    {%- endfor %}
    coalesce(g.n_geo_events, 0) as n_geo_events,
    g.geo_max_severity,
    r.is_sample
from returns as r
left join price_features as pf on pf.symbol = r.symbol and pf.date = r.date
left join instruments as i on i.symbol = r.symbol
left join ranks as rk on rk.symbol = r.symbol and rk.date = r.date and rk.group_name = i.primary_group
left join sentiment as s on s.symbol = r.symbol and s.date = r.date
left join actions as a on a.symbol = r.symbol and a.date = r.date
left join economic as e on e.date = r.date
left join geopolitical as g on g.date = r.date
left join macro as m on m.date = r.date

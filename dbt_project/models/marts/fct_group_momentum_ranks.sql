{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['group_name', 'symbol', 'date'],
        on_schema_change='fail',
        tags=['incremental'],
    )
}}
-- Cross-sectional momentum ranks within each universe group (market_data.instrument_groups)
-- per date, among the members with a value that day. rank 1 = strongest momentum;
-- pct = (n - rank) / (n - 1) runs 0 (weakest) .. 1 (strongest), n = members with a value that
-- day; null when n < 2.
with features as (
    select symbol, date, mom_21, mom_63, mom_126, mom_252
    from {{ ref('fct_price_features_daily') }}
    where {{ in_window('date') }}
),

members as (
    select symbol, group_name from {{ ref('stg_market_data__instrument_groups') }}
),

ranked as (
    select
        m.group_name,
        f.symbol,
        f.date,
        {%- for k in [21, 63, 126, 252] %}
        f.mom_{{ k }},
        count(f.mom_{{ k }}) over (partition by m.group_name, f.date) as n_{{ k }},
        rank() over (partition by m.group_name, f.date order by f.mom_{{ k }} desc nulls last) as rank_desc_{{ k }}{{ "," if not loop.last }}
        {%- endfor %}
    from features as f
    inner join members as m on m.symbol = f.symbol
)

select
    group_name,
    symbol,
    date,
    {%- for k in [21, 63, 126, 252] %}
    mom_{{ k }},
    case when mom_{{ k }} is not null then rank_desc_{{ k }} end as mom_{{ k }}_rank,
    case
        when mom_{{ k }} is not null and n_{{ k }} > 1
            then cast(n_{{ k }} - rank_desc_{{ k }} as {{ type_double() }}) / (n_{{ k }} - 1)
    end as mom_{{ k }}_pct,
    {%- endfor %}
    count(*) over (partition by group_name, date) as n_members
from ranked

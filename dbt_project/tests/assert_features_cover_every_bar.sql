{{ config(meta={'dagster': {'ref': {'name': 'fct_features_daily'}}}) }}
-- fct_features_daily has exactly one row per bar of fct_returns_daily.
select coalesce(r.symbol, f.symbol) as symbol, coalesce(r.date, f.date) as date
from {{ ref('fct_returns_daily') }} as r
full outer join {{ ref('fct_features_daily') }} as f on f.symbol = r.symbol and f.date = r.date
where r.symbol is null or f.symbol is null

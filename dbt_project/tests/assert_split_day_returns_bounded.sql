{{ config(meta={'dagster': {'ref': {'name': 'fct_returns_daily'}}}) }}
-- Adjustment correctness: a split must not show up as a return. On every split bar the
-- point-in-time return stays within +-50% (an unadjusted 2:1 split would read -50%, 4:1 -75%).
select r.symbol, r.date, r.split_ratio, r.ret_simple
from {{ ref('fct_returns_daily') }} as r
inner join {{ ref('int_corporate_actions_daily') }} as a
    on a.symbol = r.symbol and a.date = r.date
where a.has_split = 1
  and (r.split_ratio <> a.split_ratio or abs(r.ret_simple) > 0.5)

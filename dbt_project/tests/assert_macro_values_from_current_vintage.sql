{{ config(meta={'dagster': {'ref': {'name': 'fct_macro_features_daily'}}}) }}
-- Point-in-time macro: every value in fct_macro_features_daily was the value of a vintage
-- that had started by that date and had not ended (realtime_start <= date <= realtime_end).
select m.date, m.series_id, m.latest_period
from {{ ref('fct_macro_features_daily') }} as m
where m.value is not null
  and not exists (
    select 1
    from {{ ref('stg_macro__observations') }} as o
    where o.series_id = m.series_id
      and o.period_date = m.latest_period
      and o.value = m.value
      and o.realtime_start <= m.date
      and m.date <= o.realtime_end
  )

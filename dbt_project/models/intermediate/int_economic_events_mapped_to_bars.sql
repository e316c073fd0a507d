-- Every economic release attached, for every symbol, to that symbol's first bar on or after
-- the release date (a Saturday release reaches crypto the same day, stocks on Monday).
with bars as (
    select symbol, date from {{ ref('stg_market_data__ohlcv_bars') }}
),

symbols as (
    select distinct symbol from bars
),

releases as (
    select distinct event_code, release_date from {{ ref('stg_events__economic_events') }}
),

timeline as (
    select
        symbol, date as sort_date, 0 as is_event, date as bar_date,
        cast(null as {{ dbt.type_string() }}) as event_code, cast(null as date) as release_date
    from bars
    union all
    select
        s.symbol, r.release_date as sort_date, 1 as is_event, cast(null as date) as bar_date,
        r.event_code, r.release_date
    from releases as r
    cross join symbols as s
),

mapped as (
    select
        *,
        min(bar_date) over (
            partition by symbol
            order by sort_date desc, is_event asc
            rows between unbounded preceding and current row
        ) as effective_date
    from timeline
)

select symbol, event_code, release_date, effective_date as date
from mapped
where is_event = 1 and effective_date is not null

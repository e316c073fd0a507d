-- Every vintage of every observation. Sources are not mixed within a vintage: per
-- (series, period, realtime_start) the best-ranked source wins.
with source as (
    select * from {{ source('macro', 'observations') }}
),

renamed as (
    select
        cast(series_id as {{ dbt.type_string() }}) as series_id,
        cast(date as date) as period_date,
        cast(realtime_start as date) as realtime_start,
        cast(realtime_end as date) as realtime_end,
        cast(value as {{ type_double() }}) as value,
        source,
        is_sample
    from source
),

picked as (
    {{ preferred_source_rows('select * from renamed', ['series_id', 'period_date', 'realtime_start']) }}
)

select series_id, period_date, realtime_start, realtime_end, value, source, is_sample
from picked

with source as (
    select * from {{ source('events', 'economic_events') }}
),

renamed as (
    select
        cast(event_code as {{ dbt.type_string() }}) as event_code,
        name as event_name,
        country,
        release_time,
        cast(release_date as date) as release_date,
        period,
        cast(actual as {{ type_double() }}) as actual,
        cast(consensus as {{ type_double() }}) as consensus,
        cast(previous as {{ type_double() }}) as previous,
        unit,
        source,
        is_sample
    from source
),

picked as (
    {{ preferred_source_rows('select * from renamed', ['event_code', 'release_date']) }}
)

select
    event_code, event_name, country, release_time, release_date, period,
    actual, consensus, previous, unit, source, is_sample
from picked

with source as (
    select * from {{ source('events', 'geopolitical_events') }}
),

renamed as (
    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        event_time,
        cast(event_date as date) as event_date,
        country,
        category,
        title,
        cast(severity as {{ type_double() }}) as severity,
        cast(tone as {{ type_double() }}) as tone,
        url,
        source,
        is_sample
    from source
),

picked as (
    {{ preferred_source_rows('select * from renamed', ['event_id']) }}
)

select event_id, event_time, event_date, country, category, title, severity, tone, url, source, is_sample
from picked

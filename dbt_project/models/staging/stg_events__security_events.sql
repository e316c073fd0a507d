-- Earnings, dividends and splits; one row per (symbol, event_date, event_type), best source.
with source as (
    select * from {{ source('events', 'security_events') }}
),

renamed as (
    select
        cast(symbol as {{ dbt.type_string() }}) as symbol,
        cast(event_date as date) as event_date,
        lower(event_type) as event_type,
        cast(value as {{ type_double() }}) as event_value,
        cast(consensus as {{ type_double() }}) as consensus,
        details,
        source,
        is_sample
    from source
    where value is not null
      -- a split ratio must be positive; a dividend cannot be negative
      and (lower(event_type) <> 'split' or value > 0)
      and (lower(event_type) <> 'dividend' or value >= 0)
),

picked as (
    {{ preferred_source_rows('select * from renamed', ['symbol', 'event_date', 'event_type']) }}
)

select symbol, event_date, event_type, event_value, consensus, details, source, is_sample
from picked

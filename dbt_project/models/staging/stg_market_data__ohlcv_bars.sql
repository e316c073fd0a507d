-- One bar per (symbol, date): when several vendors deliver the same bar, the best-ranked
-- source wins (var source_rank), so downstream never double counts a day.
-- depends_on: {{ source('market_data', 'crypto_ohlcv_daily') }}
with source as (
    select * from {{ source('market_data', 'ohlcv_daily') }}
),

renamed as (
    select
        cast(symbol as {{ dbt.type_string() }}) as symbol,
        cast(date as date) as date,
        cast(open as {{ type_double() }}) as open,
        cast(high as {{ type_double() }}) as high,
        cast(low as {{ type_double() }}) as low,
        cast(close as {{ type_double() }}) as close,
        cast(volume as {{ type_double() }}) as volume,
        cast(vwap as {{ type_double() }}) as vwap,
        cast(source as {{ dbt.type_string() }}) as source,
        cast(is_sample as {{ dbt.type_boolean() }}) as is_sample
    from source
    where close is not null and close > 0
),

picked as (
    {{ preferred_source_rows('select * from renamed', ['symbol', 'date']) }}
)

select symbol, date, open, high, low, close, volume, vwap, source, is_sample
from picked

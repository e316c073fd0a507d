with source as (
    select * from {{ source('news', 'sentiment_daily') }}
),

renamed as (
    select
        cast(symbol as {{ dbt.type_string() }}) as symbol,
        cast(date as date) as sentiment_date,
        channel,
        cast(n_items as {{ dbt.type_bigint() }}) as n_items,
        cast(score_mean as {{ type_double() }}) as score_mean,
        cast(score_sum as {{ type_double() }}) as score_sum,
        source,
        is_sample
    from source
    where n_items > 0
),

picked as (
    {{ preferred_source_rows('select * from renamed', ['symbol', 'sentiment_date', 'channel']) }}
)

select symbol, sentiment_date, channel, n_items, score_mean, score_sum, source, is_sample
from picked

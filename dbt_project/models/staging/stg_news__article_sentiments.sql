with source as (
    select * from {{ source('news', 'article_sentiment') }}
),

renamed as (
    select
        cast(article_id as {{ dbt.type_string() }}) as article_id,
        cast(symbol as {{ dbt.type_string() }}) as symbol,
        published_at,
        cast(published_date as date) as published_date,
        channel,
        cast(vader_compound as {{ type_double() }}) as vader_compound,
        cast(lm_score as {{ type_double() }}) as lm_score,
        cast(score as {{ type_double() }}) as score,
        source,
        is_sample
    from source
),

picked as (
    {{ preferred_source_rows('select * from renamed', ['article_id', 'symbol', 'channel']) }}
)

select article_id, symbol, published_at, published_date, channel, vader_compound, lm_score, score, source, is_sample
from picked

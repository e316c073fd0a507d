with source as (
    select * from {{ source('news', 'articles') }}
),

renamed as (
    select
        cast(article_id as {{ dbt.type_string() }}) as article_id,
        published_at,
        cast(published_date as date) as published_date,
        title,
        description,
        url,
        publisher,
        symbols as symbol_list,
        source,
        is_sample
    from source
),

picked as (
    {{ preferred_source_rows('select * from renamed', ['article_id']) }}
)

select article_id, published_at, published_date, title, description, url, publisher, symbol_list, source, is_sample
from picked

with source as (
    select * from {{ source('market_data', 'instruments') }}
)

select
    cast(symbol as {{ dbt.type_string() }}) as symbol,
    name as instrument_name,
    asset_class,
    sector,
    groups as group_list,
    -- first listed group (universe.yaml order) is the instrument's primary group
    {{ dbt.split_part('groups', "','", 1) }} as primary_group,
    tags as tag_list,
    exchange,
    calendar,
    {{ periods_per_year('calendar') }} as periods_per_year
from source

with source as (
    select * from {{ source('market_data', 'instrument_groups') }}
)

select distinct
    cast(symbol as {{ dbt.type_string() }}) as symbol,
    cast(group_name as {{ dbt.type_string() }}) as group_name
from source

{#- Vendor preference as a sortable integer (lower wins) from var('source_rank');
    unknown sources rank last, so a new adapter never silently outranks a known one. -#}
{% macro source_rank(column) -%}
    case {{ column }}
    {%- for name, rank in var('source_rank').items() %}
        when '{{ name }}' then {{ rank | int }}
    {%- endfor %}
        else 99
    end
{%- endmacro %}


{#- Keep the best-ranked source's row per key: `select * from (...) where rn = 1`
    written out instead of QUALIFY, which PostgreSQL lacks. -#}
{% macro preferred_source_rows(relation_sql, key_columns, source_column='source') -%}
    select * from (
        select
            ranked.*,
            row_number() over (
                partition by {{ key_columns | join(', ') }}
                order by {{ source_rank(source_column) }}, {{ source_column }}
            ) as source_pick
        from ({{ relation_sql }}) as ranked
    ) as picked
    where source_pick = 1
{%- endmacro %}

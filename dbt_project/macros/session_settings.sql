{#- Planner settings for PostgreSQL, run before every model (pre-hook in dbt_project.yml).
    The source-preference row_number filters and the union/running-window passes leave
    PostgreSQL with row estimates of ~1, and it then picks nested-loop or single-key merge
    joins that compare every pair (minutes instead of seconds on 20 years of bars). Hash
    joins on the full equality keys are right for every join here. DuckDB needs nothing. -#}
{% macro session_settings() -%}
    {%- if target.type == 'postgres' -%}
        set enable_nestloop = off; set enable_mergejoin = off; set work_mem = '256MB'
    {%- endif -%}
{%- endmacro %}

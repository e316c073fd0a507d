{#- The partition window of an incremental run: [start_date, end_date), ISO dates, from
    `--vars '{start_date: .., end_date: ..}'` or else from the environment variables
    QUANT_DBT_START_DATE / QUANT_DBT_END_DATE (what the Dagster assets pass: a change of
    --vars makes dbt re-parse the whole project, ~5 s per invocation, while these are read
    only when a model runs). Without a start date an incremental run reprocesses from the
    latest stored date onward. -#}

{% macro _checked_date_var(name) -%}
    {%- set value = var(name, none) -%}
    {%- if value is none or value | string | length == 0 -%}
        {%- set value = env_var('QUANT_DBT_' ~ name | upper, '') -%}
    {%- endif -%}
    {%- if value is not none and value | string | length > 0 -%}
        {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}$', value | string) -%}
            {{ exceptions.raise_compiler_error("var " ~ name ~ " must be an ISO date YYYY-MM-DD, got " ~ value) }}
        {%- endif -%}
        {{ return(value | string) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}


{% macro window_start(date_column='date') -%}
    {%- set start = _checked_date_var('start_date') -%}
    {%- if start is not none -%}
        cast('{{ start }}' as date)
    {%- else -%}
        (select coalesce(max({{ date_column }}), cast('1900-01-01' as date)) from {{ this }})
    {%- endif -%}
{%- endmacro %}


{#- SQL predicate: column inside the window (incremental runs) or true (full refresh). -#}
{% macro in_window(column, date_column='date') -%}
    {%- if is_incremental() -%}
        {%- set end = _checked_date_var('end_date') -%}
        ({{ column }} >= {{ window_start(date_column) }}
        {%- if end is not none %} and {{ column }} < cast('{{ end }}' as date){% endif %})
    {%- else -%}
        (1 = 1)
    {%- endif -%}
{%- endmacro %}


{#- SQL predicate: column recent enough to feed rolling windows ending in the window. -#}
{% macro in_lookback(column, date_column='date', days=none) -%}
    {%- if is_incremental() -%}
        {%- set end = _checked_date_var('end_date') -%}
        {%- set lookback = days if days is not none else var('lookback_days') -%}
        ({{ column }} >= {{ dbt.dateadd('day', -1 * (lookback | int), window_start(date_column)) }}
        {%- if end is not none %} and {{ column }} < cast('{{ end }}' as date){% endif %})
    {%- else -%}
        (1 = 1)
    {%- endif -%}
{%- endmacro %}

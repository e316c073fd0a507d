{#- Models land in exactly the schema they configure (`derived`), not `<target>_derived`:
    the warehouse has fixed schema names shared with Python readers. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema | trim }}
    {%- else -%}{{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}

{#- 8-byte float on both backends. dbt.type_float() renders FLOAT, which DuckDB reads as a
    4-byte REAL, so returns would lose precision there. -#}
{% macro type_double() -%}double precision{%- endmacro %}

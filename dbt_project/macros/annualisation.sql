{#- Trading periods per year by exchange calendar: 252 for listed assets, 365 for 24/7 crypto. -#}
{% macro periods_per_year(calendar_column) -%}
    case when {{ calendar_column }} = '24/7' then 365.0 else 252.0 end
{%- endmacro %}

{#- Row invariant: every row (optionally those matching `where_sql`) satisfies `expression`.
    Null results count as satisfied, so warm-up nulls are not failures; pair with not_null. -#}
{% test expression_is_true(model, expression, where_sql=none) %}
select *
from {{ model }}
where not ({{ expression }})
{%- if where_sql %} and ({{ where_sql }}){% endif %}
{% endtest %}

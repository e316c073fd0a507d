{#- The macro state valid on each date of `dates_sql` (a select with one column `date`),
    for every series: the state with the latest known_from <= date. One ordered pass
    (running max of known_from) then an equality join, instead of a range join. The states
    CTE is referenced three times, so both backends compute the view once. -#}
{% macro macro_states_asof(dates_sql) -%}
    with states as (
        select * from {{ ref('int_macro_vintage_states') }}
    ),

    timeline as (
        select series_id, known_from as sort_date, 0 as is_date, known_from
        from states
        union all
        select ser.series_id, d.date as sort_date, 1 as is_date, cast(null as date) as known_from
        from ({{ dates_sql }}) as d
        cross join (select distinct series_id from states) as ser
    ),

    running as (
        select
            series_id,
            sort_date as date,
            is_date,
            max(known_from) over (
                partition by series_id
                order by sort_date, is_date
                rows between unbounded preceding and current row
            ) as state_from
        from timeline
    )

    select
        running.date,
        st.series_id,
        st.known_from,
        st.latest_period,
        st.value,
        st.change_1p,
        st.mom,
        st.yoy
    from running
    inner join states as st
        on st.series_id = running.series_id and st.known_from = running.state_from
    where running.is_date = 1
{%- endmacro %}

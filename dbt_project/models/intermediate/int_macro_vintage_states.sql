-- What was known about each macro series on each day, as a list of states
-- [known_from, known_to) that change only when a vintage starts or ends (ALFRED
-- realtime_start .. realtime_end, inclusive). A state holds the latest period published so
-- far and the values of that period, the period before it and the same period a year
-- earlier, each as known on known_from: no revision from later leaks in.
with obs as (
    select series_id, period_date, realtime_start, realtime_end, value
    from {{ ref('stg_macro__observations') }}
    where value is not null
),

knowledge_dates as (
    select distinct series_id, realtime_start as known_from from obs
    union
    select distinct
        series_id,
        cast({{ dbt.dateadd('day', 1, 'realtime_end') }} as date) as known_from
    from obs
    where realtime_end < cast('9000-01-01' as date)
),

first_published as (
    select series_id, period_date, min(realtime_start) as first_known
    from obs
    group by series_id, period_date
),

-- latest period published by each knowledge date: running max over one ordered timeline
timeline as (
    select series_id, first_known as sort_date, 0 as is_state, period_date
    from first_published
    union all
    select series_id, known_from as sort_date, 1 as is_state, cast(null as date) as period_date
    from knowledge_dates
),

latest as (
    select series_id, known_from, latest_period
    from (
        select
            series_id,
            sort_date as known_from,
            is_state,
            max(period_date) over (
                partition by series_id
                order by sort_date, is_state
                rows between unbounded preceding and current row
            ) as latest_period
        from timeline
    ) as running
    where is_state = 1 and latest_period is not null
),

period_links as (
    select
        series_id,
        period_date,
        lag(period_date) over (partition by series_id order by period_date) as prev_period
    from (select distinct series_id, period_date from obs) as periods
),

states as (
    select
        l.series_id,
        l.known_from,
        coalesce(
            lead(l.known_from) over (partition by l.series_id order by l.known_from),
            cast('9999-12-31' as date)
        ) as known_to,
        l.latest_period,
        pl.prev_period,
        cast({{ dbt.dateadd('year', -1, 'l.latest_period') }} as date) as year_ago_period
    from latest as l
    left join period_links as pl
        on pl.series_id = l.series_id and pl.period_date = l.latest_period
)

select
    s.series_id,
    s.known_from,
    s.known_to,
    s.latest_period,
    cur.value,
    prev.value as prev_value,
    yago.value as year_ago_value,
    cur.value - prev.value as change_1p,
    case when prev.value <> 0 then cur.value / prev.value - 1 end as mom,
    case when yago.value <> 0 then cur.value / yago.value - 1 end as yoy
from states as s
left join obs as cur
    on cur.series_id = s.series_id and cur.period_date = s.latest_period
    and cur.realtime_start <= s.known_from and s.known_from <= cur.realtime_end
left join obs as prev
    on prev.series_id = s.series_id and prev.period_date = s.prev_period
    and prev.realtime_start <= s.known_from and s.known_from <= prev.realtime_end
left join obs as yago
    on yago.series_id = s.series_id and yago.period_date = s.year_ago_period
    and yago.realtime_start <= s.known_from and s.known_from <= yago.realtime_end

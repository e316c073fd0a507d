-- Economic releases with surprise = actual - consensus, relative surprise, and a z-score
-- against the stddev of the same event's earlier surprises only (at least 4), so the
-- standardisation uses no later release.
with releases as (
    select
        event_code, release_date, release_time, event_name, country, period,
        actual, consensus, previous, unit, is_sample,
        actual - consensus as surprise
    from {{ ref('stg_events__economic_events') }}
),

history as (
    select
        *,
        count(surprise) over (
            partition by event_code order by release_date rows between unbounded preceding and 1 preceding
        ) as n_prior,
        stddev_samp(surprise) over (
            partition by event_code order by release_date rows between unbounded preceding and 1 preceding
        ) as sd_prior
    from releases
)

select
    event_code,
    release_date,
    release_time,
    event_name,
    country,
    period,
    actual,
    consensus,
    previous,
    unit,
    surprise,
    case when consensus <> 0 then surprise / abs(consensus) end as surprise_pct,
    case when n_prior >= 4 and sd_prior > 0 then surprise / sd_prior end as surprise_z,
    is_sample
from history

-- Event-study windows: for every security event (per its symbol) and every economic release
-- (per symbol), the daily and cumulative total returns from t-N to t+N trading bars
-- (N = var event_window_days), day 0 being the first bar on or after the event date.
-- cum_return at rel_day k compounds the returns from the close of t-N-1 through t+k.
-- RESEARCH ONLY: rows after day 0 are, by design, after the event.
-- Incremental: a run rebuilds the windows of the events whose day 0 is at most 30 calendar
-- days before its window start (every window that can hold one of the window's bars, with
-- N = 5 trading days), from bars of the 60 days before the window on (a window's rows and
-- its cumulative return need only its own 2N + 1 bars); older windows are left as stored.
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['event_class', 'event_code', 'event_date', 'symbol', 'rel_day'],
        on_schema_change='fail',
        tags=['incremental'],
    )
}}
{%- set n = var('event_window_days') | int %}
with bars as (
    select
        symbol, date, ret_simple, ret_log,
        row_number() over (partition by symbol order by date) as bar_no
    from {{ ref('fct_returns_daily') }}
    where {{ in_lookback('date', days=60) }}
),

events as (
    select 'security' as event_class, symbol, event_type as event_code, event_date, date as day0_date
    from ({{ security_events_on_bars(in_lookback('date', days=60), in_lookback('event_date', days=30)) }}) as s
    union all
    select 'economic' as event_class, symbol, event_code, release_date as event_date, date as day0_date
    from ({{ economic_events_on_bars(in_lookback('date', days=60), in_lookback('release_date', days=30)) }}) as e
),

anchored as (
    select e.*, b.bar_no as day0_bar_no
    from events as e
    inner join bars as b on b.symbol = e.symbol and b.date = e.day0_date
),

-- one row per (event, rel_day): written as a union, not a cross join with an offsets list,
-- so the bars join below is a plain equi-join on (symbol, bar_no) on both backends
expanded as (
    {%- for k in range(-n, n + 1) %}
    select event_class, event_code, event_date, symbol, day0_date, {{ k }} as rel_day, day0_bar_no + {{ k }} as bar_no
    from anchored{{ "\n    union all" if not loop.last }}
    {%- endfor %}
),

windows as (
    select
        x.event_class, x.event_code, x.event_date, x.symbol, x.day0_date,
        x.rel_day, b.date, b.ret_simple, b.ret_log
    from expanded as x
    inner join bars as b on b.symbol = x.symbol and b.bar_no = x.bar_no
)

select
    event_class,
    event_code,
    event_date,
    symbol,
    day0_date,
    rel_day,
    date,
    ret_simple,
    exp(sum(ret_log) over (
        partition by event_class, event_code, event_date, symbol
        order by rel_day rows between unbounded preceding and current row
    )) - 1 as cum_return
from windows

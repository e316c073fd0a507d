{#- Attach dated items (security events, sentiment days, economic releases) to the bar they
    take effect on: the symbol's first bar on or after the item's date. One ordered pass (a
    running min walking backwards over bars and items) instead of a range join, which
    PostgreSQL would run as a nested loop. Filters let incremental models process only their
    lookback slice. -#}

{#- The timeline pass behind the three mappings below. `items` selects symbol, sort_date (the
    item's own date) and then `columns` (name -> SQL type) in that order; the result is every
    item's row with `effective_date`, the symbol's first bar on or after sort_date (items
    after the last bar are dropped). -#}
{% macro first_bar_on_or_after(items, columns, bars_filter='1 = 1') -%}
    select *
    from (
        select
            *,
            min(bar_date) over (
                partition by symbol
                order by sort_date desc, is_item asc
                rows between unbounded preceding and current row
            ) as effective_date
        from (
            select
                symbol, date as sort_date, 0 as is_item, date as bar_date
                {%- for name, type in columns.items() %}, cast(null as {{ type }}) as {{ name }}{% endfor %}
            from {{ ref('stg_market_data__ohlcv_bars') }}
            where {{ bars_filter }}
            union all
            select
                symbol, sort_date, 1 as is_item, cast(null as date) as bar_date
                {%- for name in columns %}, {{ name }}{% endfor %}
            from ({{ items }}) as items
        ) as timeline
    ) as mapped
    where is_item = 1 and effective_date is not null
{%- endmacro %}


{% macro security_events_on_bars(bars_filter='1 = 1', events_filter='1 = 1') -%}
    {%- set items -%}
        select symbol, event_date as sort_date, event_date, event_type, event_value, consensus
        from {{ ref('stg_events__security_events') }}
        where {{ events_filter }}
    {%- endset -%}
    {%- set columns = {'event_date': 'date', 'event_type': dbt.type_string(),
                       'event_value': type_double(), 'consensus': type_double()} -%}
    select symbol, event_date, event_type, event_value, consensus, effective_date as date
    from ({{ first_bar_on_or_after(items, columns, bars_filter) }}) as mapped
{%- endmacro %}


{#- Per (symbol, bar date): split ratio (new/old, 1 if none), cash dividend per share (0 if
    none) and earnings facts taking effect on that bar. -#}
{% macro corporate_actions(bars_filter='1 = 1', events_filter='1 = 1') -%}
    select
        symbol,
        date,
        case
            when sum(case when event_type = 'split' then 1 else 0 end) = 0 then 1.0
            when sum(case when event_type = 'split' then 1 else 0 end) = 1
                then max(case when event_type = 'split' then event_value end)
            else exp(sum(case when event_type = 'split' then ln(event_value) else 0 end))
        end as split_ratio,
        coalesce(sum(case when event_type = 'dividend' then event_value end), 0.0) as dividend,
        max(case when event_type = 'split' then 1 else 0 end) as has_split,
        max(case when event_type = 'dividend' then 1 else 0 end) as has_dividend,
        max(case when event_type = 'earnings' then 1 else 0 end) as has_earnings,
        max(case when event_type = 'earnings' then event_value end) as eps_actual,
        max(case when event_type = 'earnings' then consensus end) as eps_consensus
    from ({{ security_events_on_bars(bars_filter, events_filter) }}) as events
    group by symbol, date
{%- endmacro %}


{#- Daily sentiment per (symbol, bar date), news and social channels summed. -#}
{% macro sentiment_on_bars(bars_filter='1 = 1', items_filter='1 = 1') -%}
    {%- set items -%}
        select
            symbol, sentiment_date as sort_date,
            sum(n_items) as n_items,
            sum(score_sum) as score_sum,
            sum(case when channel = 'news' then n_items else 0 end) as news_items,
            sum(case when channel = 'news' then score_sum else 0 end) as news_score_sum,
            sum(case when channel = 'social' then n_items else 0 end) as social_items,
            sum(case when channel = 'social' then score_sum else 0 end) as social_score_sum
        from {{ ref('stg_news__daily_sentiments') }}
        where {{ items_filter }}
        group by symbol, sentiment_date
    {%- endset -%}
    {%- set columns = {'n_items': dbt.type_bigint(), 'score_sum': type_double(),
                       'news_items': dbt.type_bigint(), 'news_score_sum': type_double(),
                       'social_items': dbt.type_bigint(), 'social_score_sum': type_double()} -%}
    select
        symbol,
        effective_date as date,
        sum(n_items) as n_items,
        sum(score_sum) as score_sum,
        sum(news_items) as news_items,
        sum(news_score_sum) as news_score_sum,
        sum(social_items) as social_items,
        sum(social_score_sum) as social_score_sum
    from ({{ first_bar_on_or_after(items, columns, bars_filter) }}) as mapped
    group by symbol, effective_date
{%- endmacro %}


{#- Every economic release attached, for every symbol, to that symbol's first bar on or
    after the release date (a Saturday release reaches crypto the same day, stocks on
    Monday). -#}
{% macro economic_events_on_bars(bars_filter='1 = 1', releases_filter='1 = 1') -%}
    {%- set items -%}
        select s.symbol, r.release_date as sort_date, r.event_code, r.release_date
        from (
            select distinct event_code, release_date
            from {{ ref('stg_events__economic_events') }}
            where {{ releases_filter }}
        ) as r
        cross join (
            select distinct symbol from {{ ref('stg_market_data__ohlcv_bars') }}
            where {{ bars_filter }}
        ) as s
    {%- endset -%}
    {%- set columns = {'event_code': dbt.type_string(), 'release_date': 'date'} -%}
    select symbol, event_code, release_date, effective_date as date
    from ({{ first_bar_on_or_after(items, columns, bars_filter) }}) as mapped
{%- endmacro %}

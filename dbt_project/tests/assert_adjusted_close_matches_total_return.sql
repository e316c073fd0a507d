{{ config(meta={'dagster': {'ref': {'name': 'fct_returns_daily'}}}) }}
-- The adjusted close series and the point-in-time returns describe the same total return:
-- adj_close_t / adj_close_{t-1} - 1 = ret_simple_t on every bar (relative 1e-9), and the
-- latest adjusted close equals the latest raw close.
with adjusted as (
    select
        symbol, date, close, adj_close,
        lag(adj_close) over (partition by symbol order by date) as prev_adj_close,
        row_number() over (partition by symbol order by date desc) as recency
    from {{ ref('fct_adjusted_prices') }}
)

select a.symbol, a.date, a.adj_close, a.prev_adj_close, r.ret_simple
from adjusted as a
inner join {{ ref('fct_returns_daily') }} as r on r.symbol = a.symbol and r.date = a.date
where (a.prev_adj_close is not null
       and abs(a.adj_close / a.prev_adj_close - 1 - r.ret_simple) > 1e-9 * (1 + abs(r.ret_simple)))
   or (a.recency = 1 and abs(a.adj_close - a.close) > 1e-9 * a.close)

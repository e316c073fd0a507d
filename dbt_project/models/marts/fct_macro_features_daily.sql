-- Macro series as known on each trading date (every date with a bar in the universe):
-- the latest published period, its value and its change vs the previous period (mom) and
-- the same period a year earlier (yoy), all from the vintage current on that date.
select *
from (
    {{ macro_states_asof("select distinct date from " ~ ref('stg_market_data__ohlcv_bars')) }}
) as known_on_date

-- Every economic release attached, for every symbol, to that symbol's first bar on or after
-- the release date (a Saturday release reaches crypto the same day, stocks on Monday).
{{ economic_events_on_bars() }}

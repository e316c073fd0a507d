-- Each security event attached to the bar it takes effect on: the symbol's first bar on or
-- after the event date (an ex-date on a holiday applies to the next session).
{{ security_events_on_bars() }}

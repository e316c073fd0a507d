-- Daily sentiment per symbol moved onto the symbol's bar calendar: items of a non-trading
-- day (weekend news) count on the next bar, so nothing is dropped and nothing is early.
{{ sentiment_on_bars() }}

"""Deterministic client order ids: the same (strategy, date, symbol, leg, intent) gives the same id.

A retried run recomputes the id instead of inventing a new one, so the OMS and the broker
can both tell that an order was already sent. Ids fit every broker we use: at most 36
characters of [A-Za-z0-9-_] (Binance's limit; Alpaca allows 128, IBKR's orderRef is free text).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,36}$")
_DIGEST_BYTES = 10  # 20 hex characters: 80 bits, collisions are not a practical concern


def client_order_id(
    strategy: str,
    trade_date: dt.date,
    symbol: str,
    leg: str | None = None,
    intent: str = "rebalance",
) -> str:
    """`q-<strategy prefix>-<yymmdd>-<hash>`: readable at a glance, unique by the hash."""
    key = "\x1f".join((strategy, trade_date.isoformat(), symbol, leg or "", intent))
    digest = hashlib.blake2b(key.encode(), digest_size=_DIGEST_BYTES).hexdigest()
    prefix = re.sub(r"[^A-Za-z0-9]", "", strategy)[:6] or "x"
    cid = f"q-{prefix}-{trade_date:%y%m%d}-{digest}"
    assert CLIENT_ID_RE.match(cid), cid
    return cid


def check_client_id(value: str) -> str:
    """The id if every broker accepts it, else a ValueError naming the rule."""
    if not CLIENT_ID_RE.match(value):
        raise ValueError(f"client order id {value!r} must be 1-36 characters of [A-Za-z0-9-_]")
    return value

"""The feature names a strategy rule may use, from the panel's column contract
(`quant_assets.schemas.features`), and the did-you-mean hint for a misspelt one."""

from __future__ import annotations

import difflib

from quant_assets.schemas.features import (
    EVENT_CODES,
    INDICATOR_COLUMNS,
    KEY_COLUMNS,
    MACRO_SERIES,
    MART_COLUMNS,
    MOMENTUM_WINDOWS,
    TEXT_FEATURES,
)

__all__ = [
    "EVENT_CODES",
    "INDICATOR_COLUMNS",
    "KEY_COLUMNS",
    "MACRO_SERIES",
    "MART_COLUMNS",
    "MOMENTUM_WINDOWS",
    "RULE_FEATURES",
    "TEXT_FEATURES",
    "suggest",
]

# Numeric names a rule can reference (labels and the sample flag excluded).
RULE_FEATURES: frozenset[str] = frozenset(
    c for c in (*MART_COLUMNS, *INDICATOR_COLUMNS) if c not in (*TEXT_FEATURES, "is_sample")
)


def suggest(name: str, known: frozenset[str] | set[str]) -> str:
    """' (did you mean 'x'?)' for the closest known name, or '' when nothing is close.

    A plain indicator name (`macd`, `rsi_14`) points to its total-return column (`tr_macd`):
    rules written before the indicators carried the prefix get the new name."""
    if f"tr_{name}" in known:
        return f" (did you mean 'tr_{name}'?)"
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""

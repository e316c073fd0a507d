"""Which environment variables configure the platform, so a test can start without them."""

from __future__ import annotations

from pydantic import AliasChoices

from quant_assets.settings import ENV_PREFIX, Settings


def _unprefixed_names() -> frozenset[str]:
    names = set()
    for info in Settings.model_fields.values():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {c for c in alias.choices if isinstance(c, str) and c.isupper()}
    return frozenset(n for n in names if not n.startswith(ENV_PREFIX))


# The conventional names Settings reads besides QUANT_* (vendor and broker keys,
# DAGSTER_HOME, MLFLOW_TRACKING_URI): taken from the settings, so a new one is covered.
UNPREFIXED = _unprefixed_names()


def is_setting(name: str) -> bool:
    """True for a variable Settings reads (QUANT_* or one of its conventional names)."""
    return name.upper().startswith(ENV_PREFIX) or name.upper() in UNPREFIXED

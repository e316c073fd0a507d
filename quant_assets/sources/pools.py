"""Which Dagster concurrency pool a raw domain's fetches belong to: one pool per vendor.

Each adapter rate-limits its own process. With parallel runs (dagster.production.yaml)
several processes could fetch from one vendor at once and add up past its limit, so every
raw asset names the pool of the vendor that serves it (`vendor_polygon`, `vendor_fred`,
...) and the instance caps each pool (`concurrency: pools: default_limit: 1`, raised per
pool with `dagster instance concurrency set <pool> <n>`). Offline sources get one pool
per mode (`source_sample`, `source_files`). The vendor is resolved the way
`registry.vendor_source_for` resolves it (first candidate whose key is set), from the
same settings, so the pool and the source a run uses agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quant_assets.sources.registry import DOMAIN_VENDORS, VENDORS

if TYPE_CHECKING:
    from quant_assets.settings import Settings


# The pool of the dbt build (`derived_models`). Its intermediate and mart tables are rebuilt
# whole by every run (create `<model>__dbt_tmp`, swap it in), so two runs building on one
# warehouse at once collide ("relation ... already exists") on PostgreSQL. With a limit of 1
# (the production instance's pool default) the dbt steps of concurrent runs take turns while
# their other steps keep running; DuckDB runs one run at a time anyway.
DBT_POOL = "warehouse_dbt"


def vendor_for(domain: str, settings: Settings) -> str:
    """The vendor serving `domain` in vendor mode; its first candidate when none has a key."""
    try:
        candidates = DOMAIN_VENDORS[domain]
    except KeyError:
        raise ValueError(
            f"unknown data domain {domain!r}; known: {sorted(DOMAIN_VENDORS)}"
        ) from None
    for name in candidates:
        field = VENDORS[name].key_field
        if field is None or getattr(settings, field, None) is not None:
            return name
    return candidates[0]  # the fetch itself will fail and name the missing key


def fetch_pool(domain: str, settings: Settings | None = None) -> str:
    """`vendor_<name>` in vendor mode, else `source_<mode>` (sample, files)."""
    if settings is None:
        from quant_assets.settings import get_settings

        settings = get_settings()
    mode = settings.effective_source()
    if mode == "vendor":
        return f"vendor_{vendor_for(domain, settings)}"
    if domain not in DOMAIN_VENDORS:
        raise ValueError(f"unknown data domain {domain!r}; known: {sorted(DOMAIN_VENDORS)}")
    return f"source_{mode}"

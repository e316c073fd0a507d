"""Concurrency pools of raw fetches: one per vendor, resolved like the vendor itself."""

from __future__ import annotations

import pytest

from quant_assets.settings import Settings
from quant_assets.sources.pools import fetch_pool, vendor_for
from quant_assets.sources.registry import DOMAIN_VENDORS


def test_offline_modes_have_one_pool_each():
    assert fetch_pool("ohlcv_listed", Settings.load(source_mode="sample")) == "source_sample"
    files = Settings.load(source_mode="files", files_dir="/tmp")
    assert fetch_pool("macro", files) == "source_files"


def test_vendor_mode_pools_by_the_vendor_whose_key_is_set():
    only_av = Settings.load(source_mode="vendor", alphavantage_api_key="k" * 20)
    assert fetch_pool("ohlcv_listed", only_av) == "vendor_alphavantage"
    both = Settings.load(
        source_mode="vendor", alphavantage_api_key="k" * 20, polygon_api_key="p" * 20
    )
    assert fetch_pool("ohlcv_listed", both) == "vendor_polygon"  # the preferred vendor
    assert fetch_pool("geopolitical_events", only_av) == "vendor_gdelt"  # keyless vendor
    # every domain resolves to a vendor the registry lists for it
    for domain, candidates in DOMAIN_VENDORS.items():
        assert vendor_for(domain, both) in candidates


def test_unknown_domain_is_named():
    with pytest.raises(ValueError, match="unknown data domain 'options'"):
        fetch_pool("options", Settings.load(source_mode="sample"))


def test_every_raw_fetch_asset_names_its_pool():
    from quant_assets.defs.raw.assets import raw_assets
    from quant_assets.ingest import RAW_SPECS

    pools = {a.node_def.name: a.node_def.pool for a in raw_assets}
    settings = Settings.load()
    for spec in RAW_SPECS:
        assert pools[spec.name.replace(".", "__")] == fetch_pool(spec.domain, settings)


def test_the_dbt_build_has_a_pool_of_its_own():
    from quant_assets.defs.derived.assets import derived_models
    from quant_assets.sources.pools import DBT_POOL

    assert derived_models.node_def.pool == DBT_POOL
    assert DBT_POOL not in {fetch_pool(d, Settings.load()) for d in DOMAIN_VENDORS}

"""A password in the warehouse URL or the SMTP settings never reaches Dagster as plain config:
resources get `dg.EnvVar`, and nothing the instance stores or a run prints contains it."""

import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from quant_assets.defs.secrets import url_has_secret, warehouse_url_config

SECRET = "planted-pw-93f1c"


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("duckdb:////tmp/w.duckdb", False),
        ("postgresql://postgres@127.0.0.1:5432/db", False),
        (f"postgresql://postgres:{SECRET}@127.0.0.1:5432/db", True),
        (f"postgresql://postgres@127.0.0.1/db?password={SECRET}", True),
        (f"postgresql://postgres:{SECRET}@127.0.0.1:notaport/db", True),
    ],
)
def test_which_urls_hold_a_secret(url, secret):
    assert url_has_secret(url) is secret


def test_a_url_with_a_password_must_come_from_the_environment(monkeypatch):
    url = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/db"
    monkeypatch.delenv("QUANT_WAREHOUSE_URL", raising=False)
    with pytest.raises(ValueError, match="QUANT_WAREHOUSE_URL") as err:
        warehouse_url_config(url)
    assert SECRET not in str(err.value)
    monkeypatch.setenv("QUANT_WAREHOUSE_URL", url)
    config = warehouse_url_config(url)
    assert isinstance(config, dg.EnvVar) and config.env_var_name == "QUANT_WAREHOUSE_URL"


@pytest.mark.postgres
def test_a_run_on_a_password_url_stores_no_password(pg_url, tmp_path, monkeypatch):
    from quant_assets.definitions import build_definitions
    from quant_assets.settings import Settings

    url = pg_url.replace("postgres@", f"postgres:{SECRET}@")  # trust auth ignores it
    monkeypatch.setenv("QUANT_WAREHOUSE_URL", url)
    monkeypatch.setenv("QUANT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("QUANT_SMTP_PASSWORD", SECRET + "-smtp")
    settings = Settings.load(data_dir=tmp_path / "data", source_mode="sample")
    defs = build_definitions(settings)
    for name in ("warehouse", "dbt", "reports"):
        assert SECRET not in repr(defs.resources[name].__dict__), name
    assert isinstance(defs.resources["warehouse"].url, dg.EnvVar)
    home = tmp_path / "dagster_home"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        from quant_assets.warehouse import connect

        with connect(url) as wh:
            wh.migrate()
        job = defs.resolve_implicit_global_asset_job_def().get_subset(
            asset_selection={
                dg.AssetKey(["market_data", "instruments"]),
                dg.AssetKey(["market_data", "instrument_groups"]),
            }
        )
        result = job.execute_in_process(instance=instance)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert SECRET not in repr(run.run_config) and SECRET not in repr(run.tags)
    stored = [p for p in home.rglob("*") if p.is_file()]
    assert stored, "the instance wrote nothing to disk"
    leaks = [str(p) for p in stored if SECRET.encode() in p.read_bytes()]
    assert leaks == []
    shown = subprocess.run(
        [str(Path(sys.executable).with_name("quant")), "settings"],
        capture_output=True,
        text=True,
        env={"QUANT_WAREHOUSE_URL": url, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert SECRET not in shown.stdout + shown.stderr

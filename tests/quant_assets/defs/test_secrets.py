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


RESOURCES_QUERY = """
query {
  allTopLevelResourceDetailsOrError(
    repositorySelector: {repositoryLocationName: "quant_assets", repositoryName: "__repository__"}
  ) {
    __typename
    ... on ResourceDetailsList {
      results { name configuredValues { key value type } }
    }
  }
}
"""


def test_the_ui_resource_page_shows_the_env_var_not_the_password(tmp_path):
    """What the Resources page of the Dagster UI fetches (its GraphQL query, through a real
    `dagster-webserver` on the repository's workspace) names QUANT_WAREHOUSE_URL and never
    shows the password."""
    import json
    import os
    import time
    import urllib.request

    from quant_assets.defs.launcher import free_port

    url = f"postgresql://postgres:{SECRET}@127.0.0.1:5432/never_opened"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANT_", "DAGSTER_"))}
    env.update(QUANT_WAREHOUSE_URL=url, QUANT_DATA_DIR=str(tmp_path / "data"),
               QUANT_SMTP_HOST="127.0.0.1", QUANT_SMTP_PASSWORD=SECRET + "-smtp",
               DAGSTER_HOME=str(tmp_path))  # fmt: skip
    repo = Path(__file__).resolve().parents[3]
    web = subprocess.Popen(
        [str(Path(sys.executable).with_name("dagster-webserver")), "-w", "workspace.yaml",
         "-h", "127.0.0.1", "-p", str(port)],
        cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        body, deadline = None, time.monotonic() + 240
        while time.monotonic() < deadline:  # the location loads after the server answers
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/graphql",
                    data=json.dumps({"query": RESOURCES_QUERY}).encode(),
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=30) as response:
                    body = response.read().decode()
                if '"ResourceDetailsList"' in body:
                    break
            except OSError:
                pass
            time.sleep(1)
    finally:
        web.terminate()
        log = web.communicate(timeout=60)[0]
    assert body is not None and '"ResourceDetailsList"' in body, (body, log[-3000:])
    resources = {
        r["name"]: {v["key"]: v for v in r["configuredValues"]}
        for r in json.loads(body)["data"]["allTopLevelResourceDetailsOrError"]["results"]
    }
    assert resources["warehouse"]["url"]["type"] == "ENV_VAR"
    assert resources["warehouse"]["url"]["value"] == "QUANT_WAREHOUSE_URL"
    passwords = {(n, k): v["type"] for n, vs in resources.items() for k, v in vs.items()
                 if "password" in k}  # fmt: skip
    assert passwords and set(passwords.values()) == {"ENV_VAR"}, passwords
    assert SECRET not in body and SECRET not in log

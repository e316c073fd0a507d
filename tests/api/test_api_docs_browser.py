"""/docs and /redoc render offline: `quant api` on a free port, each page loaded in headless
Chromium with every non-local request sent to a dead proxy, so a page that needed a CDN
would stay blank. Also checked without a browser: the HTML names only local assets.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from api.docs import ASSET_FILES, ASSETS_URL

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
TIMEOUT = 60


def test_docs_pages_reference_only_local_assets(client):
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        assert "cdn.jsdelivr" not in html and "fonts.googleapis" not in html, path
        assert f"{ASSETS_URL}/" in html
    for name in ASSET_FILES:
        response = client.get(f"{ASSETS_URL}/{name}")
        assert response.status_code == 200 and len(response.content) > 1000, name
    assert client.get("/openapi.json").json()["info"]["title"] == "Quant platform API"


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        message = f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def api_url(api_wh, tmp_path_factory):
    _require_browser()
    port = _free_port()
    log = tmp_path_factory.mktemp("api_log") / "api.log"
    env = {**os.environ, "QUANT_WAREHOUSE_URL": api_wh.url, "QUANT_API_KEYS": api_wh.key}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "quant_assets.cli", "api", "--port", str(port)],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + TIMEOUT
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"api exited with {proc.returncode}: {log.read_text()}")
            try:
                with urllib.request.urlopen(f"{base}/openapi.json", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"api did not start: {log.read_text()[-2000:]}")
            time.sleep(0.25)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def browser(api_url):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--no-first-run",
        "--proxy-server=http://127.0.0.1:9",  # anything not on loopback fails: offline
        f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-profile-')}",
        "--window-size=1280,900",
    ):  # fmt: skip
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.parametrize(
    ("path", "selector"),
    [("/docs", ".swagger-ui .opblock-summary-path"), ("/redoc", ".redoc-wrap [role=menuitem]")],
)
def test_docs_render_offline_in_chromium(api_url, browser, path, selector):
    from selenium.webdriver.common.by import By

    browser.get(f"{api_url}{path}")
    deadline = time.monotonic() + TIMEOUT
    while not (found := browser.find_elements(By.CSS_SELECTOR, selector)):
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not render: {browser.page_source[:1500]}")
        time.sleep(0.25)
    text = " ".join(e.text or e.get_attribute("textContent") or "" for e in found)
    assert "/v1/recommendations" in text or "recommendations" in text.lower(), text[:500]

"""The app as a person sees it: `bash scripts/app.sh` on a free port against the sample
warehouse, every page loaded in headless Chromium (Debian's chromium + chromium-driver,
driven by Selenium), no exception or error box, a screenshot of each page.

Screenshots go to test-artifacts/screenshots/. docs/img/overview.png (the README's picture)
is written when it is missing or QUANT_UPDATE_DOCS_SCREENSHOT=1, so test runs do not churn
a tracked file.
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SHOTS = ROOT / "test-artifacts" / "screenshots"
DOCS_SHOT = ROOT / "docs" / "img" / "overview.png"
PAGES = {  # url path -> title, whether the page draws plotly charts on the sample warehouse
    "": ("Overview", True),
    "Instrument": ("Instrument", True),
    "Macro_and_events": ("Macro & events", True),
    "Strategies_and_backtests": ("Strategies & backtests", True),
    "Simulations": ("Simulations", True),
    "Risk": ("Risk", True),
    "Recommendations_and_reports": ("Recommendations & reports", False),
    "Execution": ("Execution", False),
    "Models": ("Models & predictions", True),  # champion importance + rank IC (ml_store)
    "Ask": ("Ask", False),  # the conversation page, before any question
}
BAD_WORDS = re.compile(r"(?<![\w/])(None|nan|NaN|inf|-inf|null|undefined)(?![\w/])")
RAW_JSON = re.compile(r"^\s*[\[{].*[\]}]\s*$")
START_TIMEOUT = 90
PAGE_TIMEOUT = 60


def _require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        message = (
            f"{', '.join(missing)} missing: apt-get install -y chromium chromium-driver "
            "(Debian packages; no browser download)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until(check, timeout: float, what: str, interval: float = 0.25):
    """Poll `check` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(scope="module")
def app_url(sample_wh, ml_store, tmp_path_factory):
    _require_browser()
    port = _free_port()
    log = tmp_path_factory.mktemp("app_log") / "streamlit.log"
    env = {
        **os.environ,
        "PORT": str(port),
        "QUANT_WAREHOUSE_URL": sample_wh.url,
        "QUANT_REPORTS_DIR": str(sample_wh.reports_dir),
        "QUANT_MLFLOW_TRACKING_URI": ml_store.uri,
        "QUANT_KILL_SWITCH": "false",
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            ["bash", "scripts/app.sh"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so we stop exactly what we started
        )
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"app exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        _wait_until(healthy, START_TIMEOUT, "the app's health endpoint")
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


@pytest.fixture(scope="module")
def browser(app_url):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--window-size=1440,1000",
    ):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    try:
        yield driver
    finally:
        driver.quit()


def _save_docs_screenshot(png: bytes) -> None:
    """Write the README picture (palette PNG, well under 500 KB) when asked or missing."""
    if DOCS_SHOT.exists() and os.environ.get("QUANT_UPDATE_DOCS_SCREENSHOT") != "1":
        return
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256)
    DOCS_SHOT.parent.mkdir(parents=True, exist_ok=True)
    image.save(DOCS_SHOT, optimize=True)


@pytest.mark.parametrize("path", list(PAGES), ids=[t for t, _ in PAGES.values()])
def test_page_renders_in_chromium(path, app_url, browser):
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    title, has_charts = PAGES[path]
    started = time.monotonic()
    url = f"{app_url}/{path}"
    links = [
        a
        for a in browser.find_elements(By.CSS_SELECTOR, '[data-testid="stSidebarNav"] a')
        if (a.get_attribute("href") or "").rstrip("/") == url.rstrip("/")
    ]
    if links and path:  # switch pages in the running app, as a person clicks the sidebar
        links[0].click()
    else:
        browser.get(url)

    def rendered() -> bool:
        try:
            return _rendered()
        except StaleElementReferenceException:  # the page replaced it while we looked
            return False

    def _rendered() -> bool:
        done = browser.find_elements(
            By.CSS_SELECTOR, '[data-testid="stApp"][data-test-script-state="notRunning"]'
        )
        h1 = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "h1")]
        stale = browser.find_elements(By.CSS_SELECTOR, '[data-stale="true"]')
        plots = browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .main-svg")
        return bool(done) and title in h1 and not stale and bool(plots or not has_charts)

    _wait_until(rendered, PAGE_TIMEOUT, f"page {title!r} to render")
    seconds = time.monotonic() - started
    exceptions = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    errors = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentError"]')
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = browser.get_screenshot_as_png()
    (SHOTS / f"{path or 'Overview'}.png").write_bytes(png)
    assert not exceptions, [e.text for e in exceptions]
    assert not errors, [e.text for e in errors]
    # what a reader sees: no "None"/"nan"/"inf" and no raw JSON anywhere on the page
    seen = browser.find_element(By.TAG_NAME, "body").text
    bad = [line for line in seen.splitlines() if BAD_WORDS.search(line) or RAW_JSON.match(line)]
    assert not bad, bad
    if has_charts:
        assert browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")
    if path == "":
        sample = browser.find_elements(By.CSS_SELECTOR, '[data-testid="stAlertContentWarning"]')
        assert any("SAMPLE DATA" in e.text for e in sample)
        _save_docs_screenshot(png)
    print(f"{title}: rendered in {seconds:.2f} s")

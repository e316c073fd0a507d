"""Fixtures for the ML tests: one offline sample panel and one MLflow store per session.

Every test here runs with sockets disabled (pytest-socket; Unix sockets allowed), so a
test that reached the network (MLflow telemetry, a download) would fail instead of pass.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

import pandas as pd
import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

# The sample panel: the first 60 listed (non-crypto) instruments of universe.yaml, bars
# 2014-2019, generator started 2013-01-02 (shorter generation than the default 2005 start).
SAMPLE_SYMBOLS = 60
SAMPLE_SEED = 7
SAMPLE_START, SAMPLE_END = dt.date(2014, 1, 1), dt.date(2019, 12, 31)


@pytest.fixture(autouse=True)
def _no_network():
    from pytest_socket import disable_socket, enable_socket

    disable_socket(allow_unix_socket=True)
    yield
    enable_socket()


@dataclass(frozen=True)
class SamplePanel:
    instruments: list
    ohlcv: pd.DataFrame
    events: pd.DataFrame
    sentiment: pd.DataFrame
    features: pd.DataFrame
    bars: pd.DataFrame


@pytest.fixture(scope="session")
def sample_panel() -> SamplePanel:
    from ml.features import build_features, periods_per_year
    from quant_assets.sources.sample import SampleSource
    from quant_assets.sources.sentiment import daily_sentiment, score_articles
    from quant_assets.universe import load_universe

    listed = [i for i in load_universe().instruments if i.asset_class != "crypto"]
    inst = listed[:SAMPLE_SYMBOLS]
    src = SampleSource(instruments=inst, seed=SAMPLE_SEED, start=dt.date(2013, 1, 2))
    symbols = [i.symbol for i in inst]
    ohlcv = src.ohlcv(symbols, SAMPLE_START, SAMPLE_END)
    events = src.security_events(symbols, SAMPLE_START, SAMPLE_END)
    sentiment = daily_sentiment(score_articles(src.news(symbols, SAMPLE_START, SAMPLE_END)))
    features, bars = build_features(
        ohlcv, events, sentiment, periods_per_year=periods_per_year(inst)
    )
    return SamplePanel(inst, ohlcv, events, sentiment, features, bars)


@pytest.fixture(scope="session")
def empty_store(request, tmp_path_factory):
    """A function copying an empty, migrated sqlite MLflow store to a path.

    MLflow builds a new store by running its ~60 schema migrations (10-40 s here), so an
    empty migrated store is kept in pytest's cache (per MLflow version) and copied; the
    store a test writes to is always a new file.
    """
    import shutil

    import mlflow

    from ml.tracking import Tracker

    cache = getattr(request.config, "cache", None)
    if cache is not None:
        template = cache.mkdir(f"ml-mlflow-{mlflow.__version__}") / "empty.db"
    else:
        template = tmp_path_factory.mktemp("mlflow-cache") / "empty.db"
    if not template.exists():
        scratch = tmp_path_factory.mktemp("mlflow-template") / "empty.db"
        Tracker(f"sqlite:///{scratch}", experiment="template")
        shutil.copyfile(scratch, template)

    def copy_to(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, path)
        return path

    return copy_to


@pytest.fixture(scope="session")
def tracker(empty_store, tmp_path_factory):
    """One fresh sqlite MLflow store for the session."""
    from ml.tracking import Tracker

    path = empty_store(tmp_path_factory.mktemp("mlflow") / "mlflow.db")
    return Tracker(f"sqlite:///{path}", experiment="tests")

"""Execution settings: approval policy, routes by asset class, API key scopes."""

from __future__ import annotations

import datetime as dt

import pytest

from quant_assets.settings import Settings, SettingsError


@pytest.fixture(autouse=True)
def _clean(monkeypatch, tmp_path):
    for var in ("QUANT_BROKER_MODE", "QUANT_APPROVAL", "QUANT_ROUTE_EQUITY", "QUANT_ROUTE_ETF",
                "QUANT_ROUTE_CRYPTO", "QUANT_API_KEYS", "QUANT_APPROVAL_EXPIRY"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path))


def test_approval_defaults_and_auto_refused_for_live(monkeypatch):
    assert Settings.load().approval_policy == "auto"  # dry_run
    assert Settings.load(broker_mode="paper").approval_policy == "auto"
    assert Settings.load(broker_mode="live").approval_policy == "manual"
    assert Settings.load(broker_mode="paper", approval="manual").approval_policy == "manual"
    monkeypatch.setenv("QUANT_BROKER_MODE", "live")
    monkeypatch.setenv("QUANT_APPROVAL", "auto")
    with pytest.raises(SettingsError, match=r"QUANT_APPROVAL=auto\) is allowed only with"):
        Settings.load()
    monkeypatch.setenv("QUANT_APPROVAL", "manual")
    monkeypatch.setenv("QUANT_APPROVAL_EXPIRY", "10:05")
    assert Settings.load().approval_expiry == dt.time(10, 5)


def test_routes_by_asset_class(monkeypatch):
    s = Settings.load(route_equity="alpaca", route_crypto="ccxt:binance")
    assert [s.route_for(a) for a in ("stock", "etf", "crypto", "future")] == [
        "alpaca",
        "alpaca",
        "ccxt:binance",
        "none",
    ]
    assert Settings.load(route_equity="ibkr", route_etf="alpaca").route_for("etf") == "alpaca"
    monkeypatch.setenv("QUANT_ROUTE_CRYPTO", "kraken")
    with pytest.raises(
        SettingsError,
        match="QUANT_ROUTE_CRYPTO='kraken': must be paper, alpaca, ibkr, ccxt:<exchange id>",
    ):
        Settings.load()


def test_api_key_scopes_keep_plain_keys_read_only(monkeypatch):
    monkeypatch.setenv("QUANT_API_KEYS", "reader-0123456789abcdef, writer-0123456789abcdef:write")
    s = Settings.load()
    scoped = [(k.get_secret_value(), sorted(sc)) for k, sc in s.api_key_scopes()]
    assert scoped == [
        ("reader-0123456789abcdef", ["read"]),
        ("writer-0123456789abcdef", ["read", "write"]),
    ]
    assert [k.get_secret_value() for k in s.api_key_list()] == [k for k, _ in scoped]
    monkeypatch.setenv("QUANT_API_KEYS", "short:write")
    with pytest.raises(SettingsError, match="number 1 shorter than 16"):
        Settings.load()

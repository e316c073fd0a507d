"""API keys: every /v1 route refuses a missing or wrong key, and refuses all when none is set."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from api.auth import key_matches

V1_ROUTES = [
    "/v1/instruments",
    "/v1/bars?symbols=SPY",
    "/v1/features?symbol=SPY",
    "/v1/signals",
    "/v1/recommendations",
    "/v1/backtest-stats",
    "/v1/predictions",
    "/v1/reports",
]


@pytest.mark.parametrize("route", V1_ROUTES)
def test_every_v1_route_needs_a_valid_key(api_wh, make_client, route):
    client = make_client(api_wh.url)
    missing = client.get(route)
    assert missing.status_code == 401
    assert "missing API key" in missing.json()["detail"]
    assert missing.headers["www-authenticate"] == "APIKey"
    wrong = client.get(route, headers={"X-API-Key": api_wh.key[:-1] + "X"})
    assert wrong.status_code == 401 and wrong.json()["detail"] == "invalid API key"


@pytest.mark.parametrize("route", V1_ROUTES)
def test_no_configured_keys_fails_closed(api_wh, make_client, route):
    client = make_client(api_wh.url, keys=None)
    for headers in ({}, {"X-API-Key": api_wh.key}, {"X-API-Key": ""}):
        response = client.get(route, headers=headers)
        assert response.status_code == 401
        assert "no API keys are configured" in response.json()["detail"]
        assert "QUANT_API_KEYS" in response.json()["detail"]


def test_a_valid_key_is_let_through_and_every_listed_key_works(api_wh, make_client):
    client = make_client(api_wh.url, keys=f"{api_wh.key}, {api_wh.other_key}")
    for key in (api_wh.key, api_wh.other_key):
        response = client.get("/v1/instruments", headers={"X-API-Key": key})
        assert response.status_code == 200
    assert client.get("/v1/instruments", headers={"X-API-Key": "x" * 30}).status_code == 401


def test_health_and_metrics_need_no_key(api_wh, make_client):
    client = make_client(api_wh.url, keys=None)
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_keys_never_reach_the_log(api_wh, make_client, caplog):
    client = make_client(api_wh.url)
    wrong = "wrong-key-that-must-not-be-logged"
    with caplog.at_level(logging.DEBUG):
        client.get("/v1/instruments", headers={"X-API-Key": wrong})
        client.get("/v1/instruments", headers={"X-API-Key": api_wh.key})
    assert "invalid API key" in caplog.text
    assert wrong not in caplog.text and api_wh.key not in caplog.text


def test_key_comparison_is_exact():
    keys = [SecretStr("a" * 20), SecretStr("b" * 20)]
    assert key_matches("b" * 20, keys)
    assert not key_matches("b" * 19, keys)
    assert not key_matches("b" * 21, keys)
    assert not key_matches("", keys)
    assert not key_matches("a" * 20, [])
    assert key_matches("clé-ünïcode-0123456", [SecretStr("clé-ünïcode-0123456")])

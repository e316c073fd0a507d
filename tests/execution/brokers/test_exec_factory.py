"""make_broker: dry run by default, paper/sandbox endpoints in paper mode, live only with its flag."""

from __future__ import annotations

import pytest

from execution.brokers import DryRunBroker, LiveTradingNotAllowed, make_broker
from execution.brokers.paper import PaperBroker
from quant_assets.settings import Settings


def _s(tmp_path, **kw):
    return Settings.load(data_dir=tmp_path, alpaca_api_key="PK", alpaca_secret_key="SK", **kw)


def test_default_mode_is_dry_run(tmp_path, duck_wh):
    broker = make_broker("paper", warehouse=duck_wh, settings=_s(tmp_path))
    assert isinstance(broker, DryRunBroker) and isinstance(broker.inner, PaperBroker)
    assert isinstance(make_broker("alpaca", settings=_s(tmp_path)), DryRunBroker)


def test_paper_mode_uses_paper_endpoints(tmp_path, duck_wh):
    assert isinstance(
        make_broker("paper", warehouse=duck_wh, settings=_s(tmp_path, broker_mode="paper")),
        PaperBroker,
    )
    alpaca = make_broker("alpaca", settings=_s(tmp_path, broker_mode="paper"))
    assert alpaca.client._base_url == "https://paper-api.alpaca.markets"
    ccxt_broker = make_broker("ccxt", settings=_s(tmp_path, broker_mode="paper"))
    assert "testnet" in str(ccxt_broker.exchange.urls["api"])


@pytest.mark.parametrize("kind", ["alpaca", "ibkr", "ccxt"])
def test_live_needs_the_broker_flag_and_no_kill_switch(tmp_path, kind):
    with pytest.raises(LiveTradingNotAllowed, match=f"QUANT_LIVE_{kind.upper()}"):
        make_broker(kind, settings=_s(tmp_path, broker_mode="live"))
    flag = {f"live_{kind}": True}
    with pytest.raises(LiveTradingNotAllowed):
        make_broker(kind, settings=_s(tmp_path, broker_mode="live", kill_switch=True, **flag))


def test_live_alpaca_with_flag_uses_live_endpoint(tmp_path):
    broker = make_broker("alpaca", settings=_s(tmp_path, broker_mode="live", live_alpaca=True))
    assert broker.client._base_url == "https://api.alpaca.markets"

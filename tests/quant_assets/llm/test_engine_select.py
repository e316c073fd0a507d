"""The select mode (how the offline model is used): the schema it fills and the call made of it.

The model is the scripted server answering with a fixed JSON choice, so these tests check
the engine's side: a backtest variant chosen by schema reaches the tool with its changed
parameter.
"""

from __future__ import annotations

import json

from quant_assets.llm.engine import selection_schema, selection_to_call
from quant_assets.llm.scripted import text_turn
from quant_assets.llm.tools import TOOLS


def _branch(schema: dict, tool: str) -> dict:
    (branch,) = [b for b in schema["anyOf"] if b["properties"]["tool"]["const"] == tool]
    return branch


def test_backtest_variant_branch_offers_the_library_parameters(ctx) -> None:
    branch = _branch(selection_schema(ctx), "backtest_variant")
    assert {"lookback", "fast", "slow", "max_hold_bars"} <= set(
        branch["properties"]["param"]["enum"]
    )
    assert "name" not in branch["properties"]["param"]["enum"]  # only numeric fields
    assert branch["required"] == ["tool", "strategy", "param", "value", "months"]


def test_selection_to_call_passes_the_changed_parameter() -> None:
    choice = {"tool": "backtest_variant", "strategy": "spy_qqq_switch", "param": "lookback",
              "value": 21.0, "months": 3}  # fmt: skip
    name, args = selection_to_call(choice)
    assert name == "backtest_variant"
    assert args == {"strategy": "spy_qqq_switch", "params": {"lookback": 21}, "months": 3}
    assert isinstance(args["params"]["lookback"], int)
    _, frac = selection_to_call({**choice, "param": "gross", "value": 0.5})
    assert frac["params"] == {"gross": 0.5}


def test_selected_variant_runs_with_the_changed_parameter(make_engine, server, ctx) -> None:
    choice = {"tool": "backtest_variant", "strategy": "spy_qqq_switch", "param": "lookback",
              "value": 21, "months": 3}  # fmt: skip
    server.add(text_turn(json.dumps(choice)))
    answer = make_engine(mode="select").ask("Backtest spy_qqq_switch with a 21-day lookback")
    assert answer.status == "ok", answer.text
    (rec,) = answer.tool_calls
    assert (rec.name, rec.status) == ("backtest_variant", "ok")
    direct = TOOLS["backtest_variant"].call(
        ctx, {"strategy": "spy_qqq_switch", "params": {"lookback": 21}, "months": 3}
    )
    assert direct.summary in answer.text
    assert "variant {'lookback': 21}" in answer.text and "baseline {'lookback': 63}" in answer.text
    sent = server.requests[0]
    assert sent["response_format"]["json_schema"]["schema"] == selection_schema(ctx)

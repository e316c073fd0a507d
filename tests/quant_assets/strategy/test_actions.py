"""strategy.actions: one recommendation = one package, its action at the open and its orders.

Unit cases by hand, then properties on random books (hypothesis): every package has exactly
one action, counts add up to the number of packages, the orders take yesterday's book to
today's, the notional and weight totals equal the rows', and the report and the API read
the same packages.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_assets.reports.assemble import recommendations_for_report
from quant_assets.strategy.actions import ACTIONS, classify, package_records

COLS = ["strategy", "symbol", "leg", "side", "quantity", "notional", "target_weight",
        "entry_price", "stop_price", "target_price", "conditions", "sizing_rule",
        "sizing_reason", "stats", "events", "scenario_pnl"]  # fmt: skip


def row(strategy, symbol, leg, side, qty, price=100.0):
    sign = {"buy": 1, "sell": -1}.get(side, 0)
    return {"strategy": strategy, "symbol": symbol, "leg": leg, "side": side,
            "quantity": float(qty), "notional": sign * qty * price,
            "target_weight": sign * qty * price / 1e6, "entry_price": price, "stop_price": None,
            "target_price": None, "conditions": '{"signal": "s", "fired": [], "values": {}}',
            "sizing_rule": "r", "sizing_reason": "why", "stats": "{}", "events": "[]",
            "scenario_pnl": "{}"}  # fmt: skip


def test_actions_by_hand():
    cur = pd.DataFrame([row("t", "A", "main", "buy", 100), row("t", "B", "main", "sell", 5),
                        row("t", "C", "main", "close", 0), row("t", "D", "main", "buy", 10),
                        row("t", "E", "main", "buy", 104)])  # fmt: skip
    prev = pd.DataFrame([row("t", "A", "main", "buy", 50), row("t", "C", "main", "buy", 7),
                         row("t", "D", "main", "sell", 10), row("t", "E", "main", "buy", 100),
                         row("t", "F", "main", "buy", 3)])  # fmt: skip
    acts = classify(cur, prev)
    got = dict(zip(acts.packages["symbol"], zip(acts.packages["action"], acts.packages["orders"],
                                                strict=True), strict=True))  # fmt: skip
    assert got == {
        "A": ("resize", "BUY 50 A"),
        "B": ("enter", "SELL 5 B"),
        "C": ("exit", "SELL 7 C"),
        "D": ("reverse", "BUY 20 D"),
        "E": ("carry", ""),  # +4% is within the 5% tolerance: not traded
        "F": ("exit", "SELL 3 F"),  # gone from today's table
    }
    assert acts.summary() == (
        "6 recommendations: 1 new entry, 2 exits, 1 reversal, 1 size change, 1 carried"
    )
    flat = classify(cur)
    assert flat.previous_day is None and "flat" in flat.basis
    assert set(flat.packages["action"]) == {"enter", "exit"}


def test_multi_leg_strategy_is_one_package():
    legs = [row("fly", "IWM", "wing1", "buy", 50), row("fly", "SPY", "body", "sell", 100),
            row("fly", "QQQ", "wing2", "buy", 50)]  # fmt: skip
    acts = classify(pd.DataFrame(legs))
    assert len(acts.packages) == 1
    p = acts.packages.iloc[0]
    assert (p["symbol"], p["n_legs"], p["action"]) == ("IWM/SPY/QQQ", 3, "enter")
    assert p["orders"] == "BUY 50 IWM; SELL 100 SPY; BUY 50 QQQ"
    assert p["gross_notional"] == 20_000.0 and p["net_notional"] == 0.0


SYMBOLS = ["A", "B", "C", "D"]
_leg = st.tuples(
    st.sampled_from(["t1", "t2"]), st.sampled_from(SYMBOLS),
    st.sampled_from(["buy", "sell", "close"]), st.integers(1, 500),
)  # fmt: skip
_fly = st.tuples(st.integers(1, 300), st.integers(1, 300), st.booleans())


def _book(single, fly) -> pd.DataFrame:
    rows, seen = [], set()
    for strategy, symbol, side, qty in single:
        if (strategy, symbol) in seen:
            continue
        seen.add((strategy, symbol))
        rows.append(row(strategy, symbol, "main", side, 0 if side == "close" else qty))
    if fly is not None:
        w, b, on = fly
        if on:
            rows += [row("fly", "A", "wing1", "buy", w), row("fly", "B", "body", "sell", b),
                     row("fly", "C", "wing2", "buy", w)]  # fmt: skip
    return pd.DataFrame(rows, columns=COLS)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_leg, max_size=8), st.lists(_leg, max_size=8),
    st.none() | _fly, st.none() | _fly,
)  # fmt: skip
def test_action_properties(cur_single, prev_single, cur_fly, prev_fly):
    cur, prev = _book(cur_single, cur_fly), _book(prev_single, prev_fly)
    if cur.empty:
        return
    acts = classify(cur, prev)
    pk, legs = acts.packages, acts.legs
    # one action per package; counts add up to the number of recommendations
    assert set(pk["action"]) <= set(ACTIONS)
    assert sum(acts.counts().values()) == len(pk) == pk["package"].nunique()
    # multi-leg strategies are one package; single-leg ones one per symbol
    expect = {f"{s}|{y}" for s, y in zip(cur["strategy"], cur["symbol"], strict=True)
              if s != "fly"} | {f"{s}|{y}" for s, y in zip(prev["strategy"], prev["symbol"],
                                                            strict=True) if s != "fly"}  # fmt: skip
    if (cur["strategy"] == "fly").any() or (prev["strategy"] == "fly").any():
        expect.add("fly")
    assert set(pk["package"]) == expect
    # orders take yesterday's signed quantities to today's, except carried drifts
    traded = legs[legs["action"] != "carry"]
    assert (traded["prev_qty"] + traded["trade_qty"] == traded["qty_signed"]).all()
    assert (legs.loc[legs["action"] == "carry", "trade_qty"] == 0).all()
    # totals: the packages' notional and weight are the rows'
    assert pk["net_notional"].sum() == pytest.approx(cur["notional"].sum())
    assert pk["gross_notional"].sum() == pytest.approx(cur["notional"].abs().sum())
    assert pk["net_weight"].sum() == pytest.approx(cur["target_weight"].sum())
    # the report and the API read the same packages, in the same order and words
    report = recommendations_for_report(cur, charts=False, actions=acts)
    api = package_records(acts)
    assert [(r.action, r.order) for r in report] == [(p["action"], p["orders"]) for p in api]
    assert [r.gross_notional.value for r in report] == pytest.approx(
        [p["gross_notional"] for p in api]
    )

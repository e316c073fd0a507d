"""Rule parser and evaluator: precedence against numpy truth tables, unsafe input rejected,
missing data never fires, explanations carry the values."""

from __future__ import annotations

import builtins
import re

import numpy as np
import pandas as pd
import pytest

from quant_assets.strategy.rules import RuleError, evaluate, names, parse


@pytest.fixture(scope="module")
def env() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(3)
    idx = pd.date_range("2024-01-01", periods=400)
    cols = ["A", "B"]
    return {k: pd.DataFrame(rng.normal(size=(400, 2)), index=idx, columns=cols) for k in "abc"}


def _truth(rule: str, env: dict[str, pd.DataFrame]) -> np.ndarray:
    return evaluate(rule, env).mask(env["a"]).to_numpy()


@pytest.mark.parametrize(
    ("rule", "reference"),
    [
        ("a > 0 or b > 0 and c > 0", lambda a, b, c: (a > 0) | ((b > 0) & (c > 0))),
        ("(a > 0 or b > 0) and c > 0", lambda a, b, c: ((a > 0) | (b > 0)) & (c > 0)),
        ("not a > 0 and b > 0", lambda a, b, c: ~(a > 0) & (b > 0)),
        ("not (a > 0 and b > 0)", lambda a, b, c: ~((a > 0) & (b > 0))),
        ("not not a >= 0.5", lambda a, b, c: a >= 0.5),
        ("-a * 2 + 1 > b / 2 - c", lambda a, b, c: -a * 2 + 1 > b / 2 - c),
        ("a - b - c < 0", lambda a, b, c: (a - b) - c < 0),
        ("a / b / c > 1", lambda a, b, c: (a / b) / c > 1),
        (
            "abs(a) > max(b, c) or min(a, b) == a",
            lambda a, b, c: (np.abs(a) > np.maximum(b, c)) | (np.minimum(a, b) == a),
        ),
        ("a != b", lambda a, b, c: a != b),
        ("1e-1 < a and a <= 2.5E0", lambda a, b, c: (a > 0.1) & (a <= 2.5)),
    ],
)
def test_precedence_matches_numpy(rule, reference, env) -> None:
    a, b, c = (env[k].to_numpy() for k in "abc")
    np.testing.assert_array_equal(_truth(rule, env), reference(a, b, c))


def test_crosses_and_lag(env) -> None:
    a, b = env["a"].to_numpy(), env["b"].to_numpy()
    d = a - b
    up = np.zeros_like(d, dtype=bool)
    down = np.zeros_like(d, dtype=bool)
    up[1:] = (d[:-1] < 0) & (d[1:] > 0)
    down[1:] = (d[:-1] > 0) & (d[1:] < 0)
    np.testing.assert_array_equal(_truth("crosses_above(a, b)", env), up)
    np.testing.assert_array_equal(_truth("crosses_below(a, b)", env), down)
    lagged = np.full_like(a, np.nan)
    lagged[2:] = a[:-2]
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(_truth("a > lag(a, 2)", env), a > lagged)


def test_crossing_is_decided_on_the_bar_it_happens() -> None:
    fast = pd.Series([1.0, 2.0, 3.0, 4.0, 3.0, 1.0])
    slow = pd.Series([2.5, 2.5, 2.5, 2.5, 2.5, 2.5])
    m = evaluate("crosses_above(fast, slow)", {"fast": fast, "slow": slow}).mask(fast)
    assert m.tolist() == [False, False, True, False, False, False]
    m = evaluate("crosses_below(fast, slow)", {"fast": fast, "slow": slow}).mask(fast)
    assert m.tolist() == [False, False, False, False, False, True]


def test_missing_values_never_fire_even_under_not() -> None:
    x = pd.Series([np.nan, -3.0, 1.0])
    y = pd.Series([1.0, np.nan, np.nan])
    env = {"x": x, "y": y}
    assert evaluate("not x > 0", env).mask(x).tolist() == [False, True, False]
    # Kleene logic: unknown or true = true; unknown and true = unknown (no fire).
    assert evaluate("x < 0 or y > 0", env).mask(x).tolist() == [True, True, False]
    assert evaluate("x < 0 and not y > 0", env).mask(x).tolist() == [False, False, False]


def test_explanation_lists_fired_conditions_with_values() -> None:
    idx = pd.Index(["d1"])
    env = {
        "zscore_20": pd.DataFrame({"SPY": [-2.31]}, index=idx),
        "tr_rsi_14": pd.DataFrame({"SPY": [27.4]}, index=idx),
        "vol_20": pd.DataFrame({"SPY": [0.5]}, index=idx),
    }
    ev = evaluate("zscore_20 < -2 and (tr_rsi_14 < 30 or vol_20 < 0.1)", env)
    assert ev.mask(env["tr_rsi_14"]).iloc[0, 0]
    assert ev.explain("d1", "SPY") == "zscore_20=-2.31 < -2; tr_rsi_14=27.4 < 30"
    ev = evaluate("not vol_20 > 1 and abs(zscore_20) > 2", env)
    assert ev.explain("d1", "SPY") == "not (vol_20=0.5 > 1); abs(zscore_20)=2.31 > 2"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("__import__('os')", "names may not start with '_'"),
        ("__import__('os').system('ls') > 0", "names may not start with '_'"),
        ("x.__class__ > 0", "unexpected character '.'"),
        ("os.system('ls')", "unexpected character '.'"),
        ("open('f') > 0", "unexpected character"),
        ("eval(x) > 0", "unknown function 'eval'"),
        ("exec(x)", "unknown function 'exec'"),
        ("getattr(x, y) > 0", "unknown function 'getattr'"),
        ("x[0] > 1", "unexpected character '['"),
        ("lambda: 1", "unexpected character ':'"),
        ("x > 1; y > 2", "unexpected character ';'"),
        ("x if y else z", "expected an operator or the end of the rule"),
        ("x ** 2 > 1", "expected a number, a name or '('"),
        ("1 < x < 2", "comparisons do not chain"),
        ("x > 1 and", "expected a number, a name or '('"),
        ("(x > 1", "expected ')'"),
        ("x > 1)", "expected an operator or the end of the rule"),
        ("zscore_20", "rule must be a condition"),
        ("x and y > 1", "is a number"),
        ("(x > 1) + 2 > 0", "applies to numbers"),
        ("crosses_above(x) ", "takes 2 arguments, got 1"),
        ("lag(x, 1.5) > 0", "must be a positive integer"),
        ("lag(x, y) > 0", "must be a positive integer"),
        ("x > 'a'", "unexpected character"),
        ("", "expected a number, a name or '('"),
    ],
)
def test_unsafe_or_malformed_rules_are_rejected(rule, message) -> None:
    with pytest.raises(RuleError, match=re.escape(message)):
        parse(rule)


def test_error_gives_the_column() -> None:
    with pytest.raises(RuleError, match="at column 11"):
        parse("rsi_14 < 3$")


def test_evaluation_never_calls_eval_or_exec(monkeypatch, env) -> None:
    def forbidden(*a, **k):
        raise AssertionError("eval/exec called")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    assert _truth("a > 0 and crosses_above(b, c)", env).shape == (400, 2)


def test_names_and_numeric_rules() -> None:
    node = parse("mom_126 / vol_60 - lag(mom_21, 5)", kind="num")
    assert names(node) == {"mom_126", "vol_60", "mom_21"}
    with pytest.raises(RuleError, match="must be a number"):
        parse("mom_126 > 0", kind="num")

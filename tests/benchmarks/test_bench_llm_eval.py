"""The LLM evaluation set: every tool has questions, and the numbers the benchmark computes
on its own (SQL, the scenario engine, the backtest engine) are the numbers the tools give.

The scripted run calls the expected tool for each question, so a wrong expected number
(or a tool that drifted from the warehouse) fails here, not only in the README table.
"""

from __future__ import annotations

import importlib.util
import itertools
import sys
from pathlib import Path

import pytest

from quant_assets.llm.tools import TOOLS

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_llm_eval.py"
LLM_CONFTEST = ROOT / "tests" / "quant_assets" / "llm" / "conftest.py"


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("bench_llm_eval", BENCH)


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    return (
        _load("llm_eval_conftest", LLM_CONFTEST)
        .build_llm_warehouse(tmp_path_factory.mktemp("llm_eval"))
        .url
    )


@pytest.fixture(scope="module")
def questions(bench, url):
    return bench.build_questions(url)


def test_every_tool_has_questions(questions) -> None:
    assert {q.tool for q in questions} == set(TOOLS)
    assert len(questions) >= 32


def test_backtest_questions_change_a_parameter(questions) -> None:
    bt = [q for q in questions if q.tool == "backtest_variant"]
    assert len(bt) >= 2
    assert all(q.args["params"] and q.args["strategy"] == "spy_qqq_switch" for q in bt)
    # different lookbacks give different answers, so the check tells them apart
    values = sorted(q.expected for q in bt)
    tol = [max(abs(v) * 1e-3, 0.00005) for v in values]  # bench.number_found's tolerance
    assert all(
        b - a > ta + tb for (a, ta), (b, tb) in itertools.pairwise(zip(values, tol, strict=True))
    )


def test_scripted_run_finds_every_expected_number(bench, url, questions) -> None:
    results = bench.run("scripted", url, questions)
    wrong = [
        (r["question"], r["expected"], r["answer"][:200]) for r in results if not r["number_ok"]
    ]
    assert not wrong
    assert all(r["tool_ok"] and r["status"] == "ok" for r in results)


def test_number_found_is_strict_enough(bench) -> None:
    text = "variant {'lookback': 21}: total return -10.62%, Sharpe -1.94"
    assert bench.number_found(-0.106156, text, percent=True)
    assert not bench.number_found(-0.104077, text, percent=True)  # the 42-day variant's
    assert bench.number_found(1234.5, "PnL -1,234.50 and 1,234.50", percent=False)
    assert not bench.number_found(1234.5, "PnL 1,236.00", percent=False)

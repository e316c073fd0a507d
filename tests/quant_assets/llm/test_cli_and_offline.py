"""`quant ask` / `quant chat` end to end (scripted server), and the real offline model once."""

from __future__ import annotations

import io
import json
import time

import pytest

from quant_assets.cli import main
from quant_assets.llm.cli import chat_command
from quant_assets.llm.scripted import echo_tool_summaries, text_turn, tool_call_turn
from quant_assets.settings import Settings, get_settings


@pytest.fixture
def cli_env(llm_wh, server, monkeypatch, tmp_path):
    monkeypatch.setenv("QUANT_WAREHOUSE_URL", llm_wh.url)
    monkeypatch.setenv("QUANT_LLM_PROVIDER", "openai")
    monkeypatch.setenv("QUANT_LLM_BASE_URL", server.base_url)
    monkeypatch.setenv("QUANT_LLM_MODEL", "scripted")
    monkeypatch.setenv("QUANT_LLM_CONVERSATIONS_URL", f"duckdb:///{tmp_path / 'conv.duckdb'}")
    get_settings.cache_clear()
    yield server
    get_settings.cache_clear()


def test_quant_ask_prints_answer_tool_calls_and_session(cli_env, capsys) -> None:
    cli_env.add(tool_call_turn(("instrument_summary", {"symbol": "QQQ"})), echo_tool_summaries)
    assert main(["ask", "What is the last close of QQQ?"]) == 0
    out = capsys.readouterr().out
    assert "QQQ (" in out and "closed at" in out
    assert '[tool] instrument_summary {"symbol": "QQQ"} -> ok' in out
    assert "[session " in out and "openai/scripted, status ok" in out


def test_quant_ask_json_and_failure_exit_code(cli_env, capsys) -> None:
    # no scripted turn left: the server answers 500, the command exits 1 with the reason
    assert main(["ask", "Which model is the champion?", "--json"]) == 1
    body = json.loads(capsys.readouterr().out)
    assert body["status"] == "error" and "HTTP 500" in body["text"]


def test_quant_chat_keeps_one_session(cli_env, monkeypatch) -> None:
    cli_env.add(tool_call_turn(("model_status", {})), echo_tool_summaries, text_turn("Yes."))
    out = io.StringIO()
    settings = Settings.load()
    code = chat_command(
        settings, session=None, stdin=io.StringIO("Which model is live?\nIs it the champion?\n\n"),
        stdout=out,
    )  # fmt: skip
    assert code == 0
    text = out.getvalue()
    sessions = {line.split("]")[0] for line in text.splitlines() if line.startswith("[session ")}
    assert len(sessions) == 1  # both answers in the same conversation
    assert "Resume with: quant chat --session" in text
    assert cli_env.requests[-1]["messages"][1]["content"] == "Which model is live?"


@pytest.mark.slow
def test_offline_model_answers_one_question_end_to_end(ctx) -> None:
    """The bundled SmolLM2 (no key, no network) picks a tool by schema and the engine answers."""
    from quant_assets.llm.engine import Budget, Engine
    from quant_assets.llm.providers.offline import OfflineProvider

    # a loaded shared machine runs this tiny model slowly: the budget must not end the test
    engine = Engine(OfflineProvider(), ctx, None, budget=Budget(max_seconds=900))
    started = time.monotonic()
    answer = engine.ask("What happens to my book if oil rises 30%?")
    assert answer.provider == "offline" and answer.tokens > 0
    assert answer.status == "ok", answer.text
    (call,) = answer.tool_calls
    assert call.name in {
        "instrument_summary", "latest_recommendations", "explain_report_item", "run_scenario",
        "backtest_variant", "compare_strategies", "model_status", "query",
    }  # fmt: skip
    assert call.status in ("ok", "refused")  # a wrong pick is refused with a reason, not a crash
    if call.status == "ok":
        assert "Sources:" in answer.text
    assert time.monotonic() - started < 600

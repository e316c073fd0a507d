"""The Ask page under AppTest: a question goes through the engine to a scripted
OpenAI-compatible server; the page shows the question, the tool call and the cited answer,
stores the conversation, and resumes it after a rerun."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from quant_assets.llm.scripted import ScriptedServer, echo_tool_summaries, tool_call_turn
from quant_assets.llm.store import ConversationStore

PAGE = Path(__file__).resolve().parents[2] / "streamlit_app" / "pages" / "9_Ask.py"


@pytest.fixture
def scripted(sample_wh, monkeypatch, tmp_path):
    with ScriptedServer() as server:
        monkeypatch.setenv("QUANT_WAREHOUSE_URL", sample_wh.url)
        monkeypatch.setenv("QUANT_LLM_PROVIDER", "openai")
        monkeypatch.setenv("QUANT_LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("QUANT_LLM_MODEL", "scripted")
        url = f"duckdb:///{tmp_path / 'conversations.duckdb'}"
        monkeypatch.setenv("QUANT_LLM_CONVERSATIONS_URL", url)
        yield server, ConversationStore(url)


def test_ask_page_without_a_question_shows_the_provider(sample_wh, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("QUANT_WAREHOUSE_URL", sample_wh.url)
    monkeypatch.setenv("QUANT_LLM_CONVERSATIONS_URL", f"duckdb:///{tmp_path / 'c.duckdb'}")
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Ask"]
    assert any("Provider: **offline**" in c.value for c in at.caption)
    assert len(at.chat_input) == 1


def test_ask_page_runs_a_question_with_its_tool_call(scripted) -> None:
    server, store = scripted
    server.add(tool_call_turn(("instrument_summary", {"symbol": "SPY"})), echo_tool_summaries)
    at = AppTest.from_file(str(PAGE), default_timeout=60).run()
    at.chat_input[0].set_value("What is the last close of SPY?").run()
    assert not at.exception, [e.value for e in at.exception]
    messages = [m for m in at.chat_message]
    assert [m.name for m in messages] == ["user", "assistant"]
    answer = messages[1].markdown[0].value
    assert "SPY (SPDR S&P 500 ETF Trust, etf) closed at" in answer
    assert "Sources: market_data.instruments (asset market_data/instruments)" in answer
    (tool,) = at.expander
    assert tool.label.startswith('Tool call: instrument_summary {"symbol": "SPY"} → ok')
    (session,) = store.sessions("app")["session_id"]
    at.run()  # a rerun reads the stored conversation back
    assert [m.name for m in at.chat_message] == ["user", "assistant"]
    assert len(store.load("app", session)) == 3

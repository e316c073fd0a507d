"""The Anthropic provider against a local Messages-API stand-in on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from quant_assets.llm.engine import Engine
from quant_assets.llm.providers.anthropic import AnthropicProvider, to_anthropic
from quant_assets.llm.providers.base import ProviderError

KEY = "anthropic-test-key-0123456789"


@pytest.fixture
def messages_api():
    seen: list[tuple[dict, dict]] = []
    replies: list[tuple[int, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            return

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append((dict(self.headers), body))
            status, reply = replies.pop(0) if replies else (500, {"error": "exhausted"})
            data = json.dumps(reply).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen, replies
    finally:
        server.shutdown()
        server.server_close()


def test_message_mapping_groups_tool_results() -> None:
    system, msgs = to_anthropic([
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "model_status", "arguments": "{}"}},
            {"id": "b", "type": "function", "function": {"name": "query", "arguments": {"sql": "select 1"}}},
        ]},
        {"role": "tool", "tool_call_id": "a", "content": "r1"},
        {"role": "tool", "tool_call_id": "b", "content": "r2"},
    ])  # fmt: skip
    assert system == "S"
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert [b["input"] for b in msgs[1]["content"]] == [{}, {"sql": "select 1"}]
    assert [b["tool_use_id"] for b in msgs[2]["content"]] == ["a", "b"]


def test_engine_with_anthropic_tool_use(messages_api, ctx) -> None:
    url, seen, replies = messages_api
    replies += [
        (200, {"model": "claude-test", "usage": {"input_tokens": 30, "output_tokens": 5},
               "content": [{"type": "tool_use", "id": "t1", "name": "model_status", "input": {}}]}),
        (200, {"model": "claude-test", "usage": {"input_tokens": 60, "output_tokens": 9},
               "content": [{"type": "text", "text": "One live model."}]}),
    ]  # fmt: skip
    engine = Engine(AnthropicProvider(url, "claude-test", KEY), ctx, None, secrets=[KEY])
    answer = engine.ask("Which model is live?")
    assert answer.status == "ok" and answer.text.startswith("One live model.")
    assert answer.tokens == 104
    assert [r.name for r in answer.tool_calls] == ["model_status"]
    headers, first = seen[0]
    assert headers["x-api-key"] == KEY and headers["anthropic-version"] == "2023-06-01"
    assert {t["name"] for t in first["tools"]} >= {"query", "run_scenario"}
    second = seen[1][1]["messages"]
    assert second[-1]["content"][0]["type"] == "tool_result"
    assert KEY not in json.dumps([b for _, b in seen])


def test_anthropic_error_and_missing_settings(messages_api) -> None:
    url, _, replies = messages_api
    replies.append((429, {"error": {"type": "rate_limit_error"}}))
    with pytest.raises(ProviderError, match="anthropic: HTTP 429"):
        AnthropicProvider(url, "m", KEY).chat([{"role": "user", "content": "hi"}])
    with pytest.raises(ValueError, match="QUANT_LLM_API_KEY"):
        AnthropicProvider(url, "m", None)

"""POST /v1/ask: needs a key, answers through the engine (scripted OpenAI-compatible server),
stores the conversation under a hash of the key, and resumes it by session_id."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api import create_app
from api.ask import key_user
from quant_assets.llm.scripted import ScriptedServer, echo_tool_summaries, tool_call_turn
from quant_assets.llm.store import ConversationStore
from quant_assets.settings import Settings


@pytest.fixture
def ask_client(api_wh, tmp_path):
    with ScriptedServer() as server:
        conv = f"duckdb:///{tmp_path / 'conversations.duckdb'}"
        settings = Settings.load(
            warehouse_url=api_wh.url,
            api_keys=api_wh.key,
            llm_provider="openai",
            llm_base_url=server.base_url,
            llm_model="scripted",
            llm_conversations_url=conv,
        )
        with TestClient(create_app(settings)) as client:
            yield client, server, ConversationStore(conv)


def test_ask_needs_a_key(ask_client) -> None:
    client, server, _ = ask_client
    resp = client.post("/v1/ask", json={"question": "Which model is live?"})
    assert resp.status_code == 401
    assert server.requests == []


def test_ask_answers_with_tool_calls_and_sources(ask_client, api_wh) -> None:
    client, server, store = ask_client
    server.add(tool_call_turn(("model_status", {})), echo_tool_summaries)
    resp = client.post(
        "/v1/ask", json={"question": "Which model is live?"}, headers={"X-API-Key": api_wh.key}
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "ok"
    assert body["text"].startswith("xgb_rank: version v3 scored 3 symbols on 2024-03-28")
    assert body["tool_calls"][0]["name"] == "model_status"
    assert body["sources"][0] == {
        "table": "strategies.predictions",
        "asset_key": "strategies/predictions",
        "partition": "2024-03-28",
    }
    user = key_user(api_wh.key)
    assert api_wh.key not in user
    rows = store.load(user, body["session_id"])
    assert list(rows["role"]) == ["user", "tool", "assistant"]


def test_ask_rejects_a_bad_session_id(ask_client, api_wh) -> None:
    client, _, _ = ask_client
    resp = client.post(
        "/v1/ask",
        json={"question": "hi", "session_id": "../../etc"},
        headers={"X-API-Key": api_wh.key},
    )
    assert resp.status_code == 422
    assert "session_id" in resp.text


@pytest.mark.parametrize("question", ["   ", "\n\t", "\x1c\x1f"])
def test_ask_refuses_a_blank_question_with_422(ask_client, api_wh, question) -> None:
    # Found while fuzzing /v1/ask: a blank question passed validation and the engine's
    # "question is empty" became a 500.
    client, server, _ = ask_client
    resp = client.post("/v1/ask", json={"question": question}, headers={"X-API-Key": api_wh.key})
    assert resp.status_code == 422, resp.text
    assert resp.json()["detail"].startswith("body.question=")
    assert server.requests == []


def test_ask_answers_an_unparseable_body_with_the_documented_400(ask_client, api_wh) -> None:
    # Found by schemathesis (negative mode): a body that is not UTF-8 gets FastAPI's 400,
    # which the schema did not list.
    client, server, _ = ask_client
    resp = client.post(
        "/v1/ask",
        content=b"\xf4",
        headers={"X-API-Key": api_wh.key, "Content-Type": "application/json"},
    )
    assert resp.status_code == 400
    assert set(resp.json()) == {"detail"}
    documented = client.get("/openapi.json").json()["paths"]["/v1/ask"]["post"]["responses"]
    assert documented["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert server.requests == []


def test_ask_documents_its_answer_shape(ask_client, api_wh) -> None:
    # The 200 body was published as "any object"; schemathesis can only check what is
    # documented, so the answer's fields are in the schema.
    client, _, _ = ask_client
    spec = client.get("/openapi.json").json()
    ok = spec["paths"]["/v1/ask"]["post"]["responses"]["200"]["content"]["application/json"]
    assert ok["schema"] == {"$ref": "#/components/schemas/AskAnswer"}
    answer = spec["components"]["schemas"]["AskAnswer"]
    assert set(answer["required"]) == {
        "text", "status", "session_id", "tool_calls", "sources", "tokens",
        "conversation_tokens", "elapsed_s", "provider", "model",
    }  # fmt: skip
    assert answer["properties"]["status"]["enum"] == ["ok", "refused", "error", "budget"]

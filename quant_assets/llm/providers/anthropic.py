"""Anthropic's Messages API (POST {base_url}/v1/messages) with tool use, over httpx.

The engine speaks OpenAI-style messages; this module maps them: the system message to
`system`, assistant tool calls to `tool_use` blocks, tool results to `tool_result` blocks
in a user turn, and back.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from quant_assets.llm.providers.base import ProviderError, Reply, ToolCall

ANTHROPIC_URL = "https://api.anthropic.com"
VERSION = "2023-06-01"


def to_anthropic(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """OpenAI-style messages -> (system text, Anthropic messages)."""
    system, out = [], []
    for m in messages:
        role = m["role"]
        if role == "system":
            system.append(m["content"])
        elif role == "user":
            out.append({"role": "user", "content": [{"type": "text", "text": m["content"]}]})
        elif role == "assistant":
            blocks: list[dict[str, Any]] = []
            if m.get("content"):
                blocks.append({"type": "text", "text": m["content"]})
            for c in m.get("tool_calls") or []:
                args = c["function"]["arguments"]
                blocks.append({"type": "tool_use", "id": c["id"], "name": c["function"]["name"],
                               "input": json.loads(args) if isinstance(args, str) else args})  # fmt: skip
            out.append({"role": "assistant", "content": blocks})
        elif role == "tool":
            block = {
                "type": "tool_result",
                "tool_use_id": m["tool_call_id"],
                "content": m["content"],
            }
            if out and out[-1]["role"] == "user" and out[-1]["content"][0]["type"] == "tool_result":
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
    return "\n\n".join(system), out


class AnthropicProvider:
    native_tools = True

    def __init__(self, base_url: str | None, model: str | None, api_key: str | None) -> None:
        if not model:
            raise ValueError("QUANT_LLM_MODEL is required for the anthropic provider")
        if not api_key:
            raise ValueError("QUANT_LLM_API_KEY is required for the anthropic provider")
        self.base_url = (base_url or ANTHROPIC_URL).rstrip("/")
        self.model = model
        self.name = "anthropic"
        self._key = api_key

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        max_tokens: int = 512,
        timeout_s: float = 60.0,
    ) -> Reply:
        system, msgs = to_anthropic(messages)
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens, "messages": msgs,
                                "temperature": 0}  # fmt: skip
        if system:
            body["system"] = system
        if tools:
            body["tools"] = [
                {
                    "name": t["name"],
                    "description": t["description"],
                    "input_schema": t["parameters"],
                }
                for t in tools
            ]
        headers = {"x-api-key": self._key, "anthropic-version": VERSION}
        try:
            resp = httpx.post(f"{self.base_url}/v1/messages", json=body, headers=headers,
                              timeout=timeout_s)  # fmt: skip
        except httpx.TimeoutException:
            raise ProviderError(f"{self.name}: no answer within {timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"{self.name}: request failed ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise ProviderError(f"{self.name}: HTTP {resp.status_code}: {resp.text[:300]}")
        try:
            payload = resp.json()
            blocks = payload["content"]
        except (ValueError, KeyError):
            raise ProviderError(f"{self.name}: malformed answer") from None
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text") or None
        calls = [ToolCall(b["id"], b["name"], b.get("input") or {}) for b in blocks
                 if b.get("type") == "tool_use"]  # fmt: skip
        usage = payload.get("usage") or {}
        tokens = int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
        return Reply(text, calls, tokens, str(payload.get("model") or self.model))

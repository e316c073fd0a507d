"""Any OpenAI-compatible chat endpoint: OpenAI, vLLM, Ollama (/v1), the llama.cpp server.

Plain httpx against POST {base_url}/chat/completions. The key travels only in the
Authorization header; an error message carries the status and a clipped body, never the
request headers.
"""

from __future__ import annotations

from typing import Any

import httpx

from quant_assets.llm.providers.base import ProviderError, Reply, openai_tools, parse_openai_reply

OPENAI_URL = "https://api.openai.com/v1"


class OpenAICompatible:
    native_tools = True

    def __init__(self, base_url: str | None, model: str | None, api_key: str | None = None) -> None:
        self.base_url = (base_url or OPENAI_URL).rstrip("/")
        if not model:
            raise ValueError("QUANT_LLM_MODEL is required for an OpenAI-compatible provider")
        self.model = model
        self.name = "openai"
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
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "max_tokens": max_tokens,
        }
        if tools:
            body["tools"] = openai_tools(tools)
        if response_format:
            body["response_format"] = response_format
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        try:
            resp = httpx.post(
                f"{self.base_url}/chat/completions", json=body, headers=headers, timeout=timeout_s
            )
        except httpx.TimeoutException:
            raise ProviderError(f"{self.name}: no answer within {timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise ProviderError(f"{self.name}: request failed ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise ProviderError(f"{self.name}: HTTP {resp.status_code}: {resp.text[:300]}")
        try:
            payload = resp.json()
        except ValueError:
            raise ProviderError(f"{self.name}: the answer is not JSON") from None
        return parse_openai_reply(payload, self.name)

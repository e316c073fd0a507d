"""What every provider speaks: OpenAI-style chat messages in, a `Reply` out.

Messages are dicts in the OpenAI chat format (role system/user/assistant/tool, assistant
`tool_calls`, tool `tool_call_id`); a provider translates them to its own wire format.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol


class ProviderError(RuntimeError):
    """The provider failed (HTTP error, timeout, malformed answer); the text holds no secret."""


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any] | str


@dataclass(frozen=True)
class Reply:
    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)
    tokens: int = 0  # prompt + completion tokens the provider reported
    model: str = ""


class Provider(Protocol):
    name: str
    model: str
    native_tools: bool  # False: the engine uses schema-constrained selection instead

    def chat(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
        max_tokens: int = 512,
        timeout_s: float = 60.0,
    ) -> Reply: ...


def openai_tools(tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Tool specs {name, description, parameters} in the OpenAI `tools` shape."""
    if not tools:
        return None
    return [{"type": "function", "function": t} for t in tools]


def parse_openai_reply(body: dict[str, Any], provider: str) -> Reply:
    """A chat.completion body -> Reply; malformed bodies raise ProviderError."""
    try:
        choice = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise ProviderError(f"{provider}: the answer has no choices[0].message") from None
    calls = []
    for i, c in enumerate(choice.get("tool_calls") or []):
        fn = c.get("function") or {}
        if not fn.get("name"):
            raise ProviderError(f"{provider}: tool call {i} has no function name")
        args: dict[str, Any] | str = fn.get("arguments") or "{}"
        if isinstance(args, str):
            try:  # the OpenAI wire format carries arguments as a JSON string
                parsed = json.loads(args)
                args = parsed if isinstance(parsed, dict) else args
            except ValueError:
                pass  # kept as text: the tool refuses it naming the problem
        calls.append(ToolCall(str(c.get("id") or f"call_{i}"), fn["name"], args))
    usage = body.get("usage") or {}
    tokens = int(usage.get("total_tokens") or 0) or int(usage.get("prompt_tokens") or 0) + int(
        usage.get("completion_tokens") or 0
    )
    return Reply(choice.get("content"), calls, tokens, str(body.get("model") or ""))

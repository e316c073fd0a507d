"""A scripted OpenAI-compatible chat server on 127.0.0.1 that replays turns deterministically.

The tests and the evaluation point the engine's OpenAI-compatible provider at it: each
POST /v1/chat/completions takes the next entry of the script, which is a chat.completion
body, a function of the request body returning one, or an `HttpError` to answer with.
Once the script is spent it answers `otherwise` if given (a turn for any number of calls,
as a fuzzing client needs), else a 500 "script exhausted". Every request body is recorded, so a test can check what the engine sent (history,
tools, that no secret went out). Runs in a thread; stops on exit of the `with` block.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Turn = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class HttpError:
    status: int
    body: str = '{"error": {"message": "scripted failure"}}'


def tool_call_turn(*calls: tuple[str, dict[str, Any]], tokens: int = 50) -> dict[str, Any]:
    """An assistant turn calling tools: (name, arguments) pairs."""
    return {
        "object": "chat.completion",
        "model": "scripted",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": f"call_{i}",
                            "type": "function",
                            "function": {"name": name, "arguments": json.dumps(args)},
                        }
                        for i, (name, args) in enumerate(calls)
                    ],
                },
            }
        ],
        "usage": {"prompt_tokens": tokens - 10, "completion_tokens": 10, "total_tokens": tokens},
    }


def text_turn(text: str, tokens: int = 40) -> dict[str, Any]:
    return {
        "object": "chat.completion",
        "model": "scripted",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
        ],
        "usage": {"prompt_tokens": tokens - 10, "completion_tokens": 10, "total_tokens": tokens},
    }


def echo_tool_summaries(request: dict[str, Any]) -> dict[str, Any]:
    """A final turn that answers with the summaries of this turn's tool results, verbatim."""
    summaries = []
    for m in reversed(request["messages"]):
        if m["role"] != "tool":
            break
        try:
            summaries.append(json.loads(m["content"]).get("summary") or m["content"])
        except ValueError:
            summaries.append(m["content"])
    return text_turn(" ".join(reversed(summaries)) or "no tool result")


class ScriptedServer:
    def __init__(
        self, script: Iterable[Turn | HttpError] = (), *, otherwise: Turn | None = None
    ) -> None:
        self.script: list[Turn | HttpError] = list(script)
        self.otherwise = otherwise
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with outer._lock:
                    outer.requests.append(body)
                    outer.headers.append(dict(self.headers))
                    if outer.script:
                        entry: Turn | HttpError = outer.script.pop(0)
                    elif outer.otherwise is not None:
                        entry = outer.otherwise
                    else:
                        entry = HttpError(500, '{"error": {"message": "script exhausted"}}')
                if not self.path.endswith("/chat/completions"):
                    entry = HttpError(404, '{"error": {"message": "unknown path"}}')
                if isinstance(entry, HttpError):
                    status, payload = entry.status, entry.body.encode()
                else:
                    reply = entry(body) if callable(entry) else entry
                    status, payload = 200, json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def add(self, *turns: Turn | HttpError) -> None:
        with self._lock:
            self.script.extend(turns)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

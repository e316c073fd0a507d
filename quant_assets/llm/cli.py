"""`quant ask "..."` and `quant chat`: the conversation engine on the command line."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any, TextIO

from quant_assets.llm.engine import Answer, Engine, engine_from_settings


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"


def render(answer: Answer) -> str:
    """The answer, then one line per tool call, then the session line."""
    lines = [answer.text, ""]
    for r in answer.tool_calls:
        args = (
            json.dumps(r.arguments, default=str)
            if not isinstance(r.arguments, str)
            else r.arguments
        )
        lines.append(f"[tool] {r.name} {args} -> {r.status}")
    lines.append(
        f"[session {answer.session_id}] {answer.provider}/{answer.model}, status {answer.status}, "
        f"{answer.tokens} tokens ({answer.conversation_tokens} in the conversation), "
        f"{answer.elapsed_s:.1f} s"
    )
    return "\n".join(lines)


def _engine(settings: Any) -> Engine | None:
    try:
        return engine_from_settings(settings)
    except Exception as exc:  # no warehouse, missing model package, bad provider settings
        print(f"quant: cannot start the LLM engine: {exc}", file=sys.stderr)
        return None


def ask_command(settings: Any, question: str, *, session: str | None, as_json: bool) -> int:
    engine = _engine(settings)
    if engine is None:
        return 2
    try:
        answer = engine.ask(question, user_id=_user(), session_id=session)
    except ValueError as exc:
        print(f"quant ask: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.ctx.wh.close()
    print(json.dumps(answer.to_dict(), default=str, indent=2) if as_json else render(answer))
    return 0 if answer.status == "ok" else 1


def chat_command(
    settings: Any, *, session: str | None, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> int:
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    engine = _engine(settings)
    if engine is None:
        return 2
    user = _user()
    print("Ask about the platform's data; an empty line ends the chat.", file=stdout)
    try:
        while True:
            print("> ", end="", file=stdout, flush=True)
            line = stdin.readline()
            if not line or not line.strip():
                break
            answer = engine.ask(line.strip(), user_id=user, session_id=session)
            session = answer.session_id
            print(render(answer), file=stdout, flush=True)
    finally:
        engine.ctx.wh.close()
    if session:
        print(f"Resume with: quant chat --session {session}", file=stdout)
    return 0

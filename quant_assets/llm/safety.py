"""Prompt-injection and secret hygiene for the conversation engine.

Three rules, enforced in code rather than asked of the model:
- Text that came from the warehouse (news titles, strategy names, reasons, report text)
  is data. Spans that read like instructions to a model are replaced before the model
  sees them, and the result is flagged.
- A tool call made after such data entered the turn must be one the user's own message
  asked for (`requested_tools`); anything else is refused and logged as refused.
- No secret value (API keys, passwords in URLs) reaches a prompt, a stored message or a
  log line: `redact` removes every configured secret from text before it leaves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

INJECTION = re.compile(
    r"(ignore|disregard|forget|override)\s+(all\s+|any\s+|the\s+)?(previous|prior|above|earlier|"
    r"your|system)\s+(instructions?|prompts?|rules?|messages?)"
    r"|(reveal|print|show|dump|leak|send)\s+(me\s+)?(the\s+|your\s+|all\s+)?"
    r"(system\s+prompt|settings|secrets?|api[\s_-]?keys?|passwords?|credentials|environment)"
    r"|you\s+are\s+now\s+|new\s+instructions?\s*:|\bsystem\s*:|<\s*/?\s*(system|instructions?)\s*>"
    r"|call\s+the\s+\w+\s+tool|run\s+(the\s+)?(sql|query|tool)\b",
    re.IGNORECASE,
)
REMOVED = "[instruction-like text removed]"

# Words in the user's own message that ask for each tool. Deliberately broad: they gate
# only tool calls made after warehouse text entered the turn.
_INTENTS: dict[str, tuple[str, ...]] = {
    "query": ("sql", "query", "select", "table", "count", "how many", "list", "rows"),
    "latest_recommendations": ("recommend", "why", "buy", "sell", "signal", "trade", "idea"),
    "explain_report_item": ("report", "explain", "sod", "eod", "item", "why"),
    "run_scenario": (
        "scenario", "shock", "stress", "what happens", "what if", "rise", "rises", "fall",
        "falls", "drop", "crash", "up ", "down ", "book", "pnl",
    ),
    "backtest_variant": ("backtest", "variant", "parameter", "lookback", "param", "instead of"),
    "compare_strategies": (
        "compare", "compared", "versus", " vs", "buy-and-hold", "buy and hold", "did",
        "perform", "how did",
    ),
    "model_status": ("model", "champion", "out of sample", "oos", "ic ", "predict", "accuracy"),
    "instrument_summary": (
        "price", "close", "return", "summary", "summarise", "summarize", "how is", "doing",
        "news", "headline", "volatility",
    ),
}  # fmt: skip


def neutralize(text: str | None) -> tuple[str | None, bool]:
    """Warehouse text with instruction-like spans replaced, and whether any were found."""
    if text is None:
        return None, False
    cleaned, n = INJECTION.subn(REMOVED, str(text))
    return cleaned, n > 0


def looks_like_injection(text: str) -> bool:
    return INJECTION.search(text) is not None


def requested_tools(user_text: str, tool_names: Iterable[str]) -> set[str]:
    """The tools a user's message asks for (by its words, or by naming the tool)."""
    low = f" {user_text.lower()} "
    out = set()
    for name in tool_names:
        if (
            name in low
            or name.replace("_", " ") in low
            or any(word in low for word in _INTENTS.get(name, ()))
        ):
            out.add(name)
    return out


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret value (4+ characters) replaced by ***."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def settings_secrets(settings: object) -> list[str]:
    """Every secret the settings hold: SecretStr values and passwords inside URLs."""
    from urllib.parse import urlsplit

    from pydantic import SecretStr

    out: list[str] = []
    for name in type(settings).model_fields:  # type: ignore[attr-defined]
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            raw = value.get_secret_value()
            out += [raw, *[p.strip() for p in raw.split(",") if p.strip()]]
        elif isinstance(value, str) and "://" in value:
            password = urlsplit(value).password
            if password:
                out.append(password)
    return out

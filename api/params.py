"""Query parameters shared by the read routes, and how a bad one is reported.

Every rejection (422) names the parameter and the value it got, e.g.
`start='2024-02-01': after end='2024-01-31'`, so a client can fix the call without the
server log. FastAPI's own validation errors (malformed date, limit out of range, missing
parameter) are rewritten into the same one-line form by `validation_message`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Annotated, Any

from fastapi import Query
from fastapi.exceptions import RequestValidationError

from quant_assets.universe import Universe

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000

Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"rows per response, 1..{MAX_LIMIT}"),
]
Start = Annotated[dt.date | None, Query(description="first date, inclusive (YYYY-MM-DD)")]
End = Annotated[dt.date | None, Query(description="last date, inclusive (YYYY-MM-DD)")]


class BadParameter(ValueError):
    """A query parameter has a well-formed but unusable value (422)."""

    def __init__(self, param: str, value: Any, reason: str):
        super().__init__(f"{param}={value!r}: {reason}")
        self.param = param
        self.value = value


def check_range(start: dt.date | None, end: dt.date | None) -> None:
    """Refuse an empty date range instead of answering it with no rows."""
    if start is not None and end is not None and start > end:
        raise BadParameter("start", start.isoformat(), f"after end={end.isoformat()!r}")


def split_values(values: Iterable[str] | None) -> list[str]:
    """`a,b` and repeated parameters alike, stripped, blanks and repeats dropped."""
    parts = (part.strip() for value in values or () for part in value.split(","))
    return list(dict.fromkeys(part for part in parts if part))


def check_symbols(universe: Universe, param: str, values: Sequence[str]) -> list[str]:
    """Canonical (upper-case) symbols, each one of the universe's."""
    symbols = [value.upper() for value in values]
    for given, symbol in zip(values, symbols, strict=True):
        if symbol not in universe:
            raise BadParameter(param, given, "not in the universe (see /v1/instruments)")
    return symbols


def check_symbol(universe: Universe, param: str, value: str | None) -> str | None:
    """One optional symbol filter, checked like `check_symbols`."""
    return None if value is None else check_symbols(universe, param, [value])[0]


def validation_message(exc: RequestValidationError) -> str:
    """FastAPI's validation errors as `name='value': reason; ...`."""
    problems = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ()) if part not in ("query", "path", "header")]
        name = ".".join(loc) or "request"
        reason = str(err.get("msg", "invalid"))
        reason = reason[:1].lower() + reason[1:]
        if err.get("type") == "missing":
            problems.append(f"{name}: {reason}")
        else:
            problems.append(f"{name}={err.get('input')!r}: {reason}")
    return "; ".join(problems)

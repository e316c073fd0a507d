"""Payload shape checks: a vendor answer of the wrong shape is the adapter's `PayloadError`.

Parsers read nested JSON with `.get` and indexing; given a string where a list belongs
(`{"observations": "nope"}`), that ends in a bare AttributeError deep inside, or worse,
iterates the characters and returns an empty frame as if the vendor had no data. Two
tools stop both:
- `records(payload, key, ...)`: the list under `key`, checked to be a list (of objects);
- `@payload_shape(vendor)`: on a parser or a source method, turns the errors a
  wrong-shaped payload raises while being read into `PayloadError` naming the vendor.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from quant_assets.sources.base import SourceError
from quant_assets.sources.http import PayloadError

F = TypeVar("F", bound=Callable[..., Any])

# What reading a payload of the wrong shape raises. Not ValueError: parsers and source
# methods raise it for bad arguments (an unknown category), which are not payload
# problems; the explicit checks (`records`, the adapters' own) cover the values.
_SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError)


def records(
    payload: Any,
    key: str,
    vendor: str,
    *,
    symbol: str | None = None,
    objects: bool = True,
) -> list[Any]:
    """`payload[key]` as a list ([] when absent or null); anything else is `PayloadError`.

    With `objects`, every element must be a JSON object too.
    """
    if not isinstance(payload, Mapping):
        raise PayloadError(
            vendor, f"expected a JSON object, got {type(payload).__name__}", symbol=symbol
        )
    value = payload.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(
            vendor,
            f"'{key}' is {type(value).__name__} ({str(value)[:60]!r}), expected a list",
            symbol=symbol,
            field=key,
        )
    if objects:
        bad = next((v for v in value if not isinstance(v, Mapping)), None)
        if bad is not None:
            raise PayloadError(
                vendor,
                f"an element of '{key}' is {type(bad).__name__} ({str(bad)[:60]!r}), "
                "expected an object",
                symbol=symbol,
                field=key,
            )
    return value


def payload_shape(vendor: str) -> Callable[[F], F]:
    """Decorate a parser or a source method that reads vendor payloads.

    Errors that are already `SourceError`s pass through; arguments are bound first, so
    a wrong call stays a TypeError and is not blamed on the vendor.
    """

    def decorate(fn: F) -> F:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            signature.bind(*args, **kwargs)
            try:
                return fn(*args, **kwargs)
            except SourceError:
                raise
            except _SHAPE_ERRORS as exc:
                raise PayloadError(
                    vendor,
                    f"{fn.__name__}: the payload does not have the vendor's documented shape "
                    f"({type(exc).__name__}: {exc})",
                ) from exc

        return wrapper  # type: ignore[return-value]

    return decorate

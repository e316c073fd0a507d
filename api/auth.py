"""API keys: the `X-API-Key` header checked against QUANT_API_KEYS, failing closed.

No keys configured means no access (401 saying so), never open access. Every configured
key is compared in constant time (`hmac.compare_digest`), and all of them are compared,
so the response time tells nothing about how much of a key, or which key, matched.
Keys are never logged: a rejection logs the path and the reason only.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Sequence
from typing import Annotated

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader
from pydantic import SecretStr

API_KEY_HEADER = "X-API-Key"
KEYS_VARIABLE = "QUANT_API_KEYS"

log = logging.getLogger(__name__)

_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description=f"one of the keys listed in {KEYS_VARIABLE}",
)


def key_matches(given: str, keys: Sequence[SecretStr]) -> bool:
    """True when `given` equals one of `keys`, in time independent of where they differ."""
    candidate = given.encode("utf-8")
    found = False
    for key in keys:
        found |= hmac.compare_digest(candidate, key.get_secret_value().encode("utf-8"))
    return found


def _refuse(request: Request, reason: str) -> HTTPException:
    log.warning("refused %s %s: %s", request.method, request.url.path, reason)
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=reason, headers={"WWW-Authenticate": "APIKey"}
    )


def require_api_key(
    request: Request, given: Annotated[str | None, Security(_header)] = None
) -> None:
    """Dependency of every /v1 route: 401 unless the header holds a configured key."""
    keys: Sequence[SecretStr] = request.app.state.api_keys
    if not keys:
        raise _refuse(request, f"no API keys are configured: set {KEYS_VARIABLE} to enable /v1")
    if not given:
        raise _refuse(request, f"missing API key: send it in the {API_KEY_HEADER} header")
    if not key_matches(given, keys):
        raise _refuse(request, "invalid API key")

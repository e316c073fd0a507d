"""Secrets reach resources as `dg.EnvVar`: Dagster resolves them in the process that runs
the step and shows only the variable's name in the UI, the run config and the event log."""

from __future__ import annotations

import os
from urllib.parse import parse_qs, urlsplit

import dagster as dg

WAREHOUSE_ENV = "QUANT_WAREHOUSE_URL"
SMTP_PASSWORD_ENV = "QUANT_SMTP_PASSWORD"


def url_has_secret(url: str) -> bool:
    """A password in the URL's userinfo or its query string (`?password=`)."""
    try:
        parts = urlsplit(url)
        has_userinfo_password = parts.password is not None
    except ValueError:
        return True  # unparsable: treat as secret rather than show it
    query = {k.lower() for k in parse_qs(parts.query)}
    return has_userinfo_password or bool(query & {"password", "pass", "pwd"})


def warehouse_url_config(url: str) -> str | dg.EnvVar:
    """The warehouse URL as resource config: the plain URL when it holds no password (a
    DuckDB path, trust auth), else `EnvVar(QUANT_WAREHOUSE_URL)`, which must hold it."""
    if not url_has_secret(url):
        return url
    if os.environ.get(WAREHOUSE_ENV) != url:
        raise ValueError(
            f"the warehouse URL has a password, so it must come from the environment: set "
            f"{WAREHOUSE_ENV} (a password is never passed to Dagster as plain config)"
        )
    return dg.EnvVar(WAREHOUSE_ENV)


def env_secret(name: str, value: object | None) -> dg.EnvVar | None:
    """`EnvVar(name)` when the secret is set (it must come from that variable), else None."""
    if value is None:
        return None
    if not os.environ.get(name):
        raise ValueError(f"{name}: secrets are read from the environment only; set {name}")
    return dg.EnvVar(name)

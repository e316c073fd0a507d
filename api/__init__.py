"""HTTP API over the warehouse: read-only, API keys, health and Prometheus metrics.

Start it with `quant api` (uvicorn on 127.0.0.1:8000); build it in code with
`api.create_app(settings)`. It reads through `quant_assets.warehouse` only, on a
read-only connection, and never imports the Dagster layer.
"""

from __future__ import annotations

from api.app import create_app

__all__ = ["create_app"]

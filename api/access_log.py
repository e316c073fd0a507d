"""Keep API keys out of uvicorn's access log.

A client may send its key as `?api_key=...` (refused: keys go in the X-API-Key header),
yet uvicorn logs the full request line. This filter rewrites the logged path so key-like
query parameters (api_key, token, password, ...) read `***`. It is attached to the
`uvicorn.access` logger by `create_app`, so every way of serving the app gets it.
"""

from __future__ import annotations

import logging

from quant_assets.settings import mask_secrets

ACCESS_LOGGER = "uvicorn.access"


class RedactQueryFilter(logging.Filter):
    """Mask key-like query parameters and URL passwords in every access-log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask_secrets(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = mask_secrets(record.msg) or record.msg
        return True


def install() -> None:
    """Attach the filter to uvicorn's access logger once per process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactQueryFilter) for f in logger.filters):
        logger.addFilter(RedactQueryFilter())

"""One call for the Dagster asset: render, save the files, then mail them.

The files are written before any email is attempted, so a mail failure never loses the
report; the failure is in the result (and `result.delivery.raise_for_status()` turns it
into a `DeliveryError` if the caller wants the run to fail).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from quant_assets.reports.email import DeliveryResult, SmtpConfig, send_report
from quant_assets.reports.model import Report
from quant_assets.reports.render import RenderedReport, SavedReport, render, save


@dataclass(frozen=True)
class Published:
    rendered: RenderedReport
    saved: SavedReport
    delivery: DeliveryResult


def publish(
    report: Report,
    reports_dir: Path | str,
    smtp: SmtpConfig | None = None,
    *,
    embed_images: bool = False,
    **send_kwargs: Any,
) -> Published:
    """Render `report`, write it under reports_dir/<date>/, then email it if SMTP is configured."""
    rendered = render(report)
    saved = save(rendered, reports_dir, embed_images=embed_images)
    delivery = send_report(rendered, smtp or SmtpConfig(host=None), **send_kwargs)
    return Published(rendered, saved, delivery)

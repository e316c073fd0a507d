"""SOD and EOD reports: typed inputs, charts, HTML/text rendering, files and email.

No Dagster here: the `reports` asset group fills `SODReport` / `EODReport` from assets
and calls `publish`.
"""

from quant_assets.reports.email import DeliveryError, DeliveryResult, SmtpConfig, send_report
from quant_assets.reports.model import EODReport, Num, SODReport, iter_numbers
from quant_assets.reports.publish import Published, publish
from quant_assets.reports.render import RenderedReport, SavedReport, render, save

__all__ = [
    "DeliveryError",
    "DeliveryResult",
    "EODReport",
    "Num",
    "Published",
    "RenderedReport",
    "SODReport",
    "SavedReport",
    "SmtpConfig",
    "iter_numbers",
    "publish",
    "render",
    "save",
    "send_report",
]

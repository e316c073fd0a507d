"""Where reports go: the reports directory and the SMTP settings.

The SMTP password reaches the resource as `dg.EnvVar("QUANT_SMTP_PASSWORD")`, so Dagster
shows the variable's name, never the password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field, SecretStr

from quant_assets.defs.secrets import SMTP_PASSWORD_ENV, env_secret
from quant_assets.reports.email import SmtpConfig


class ReportsResource(dg.ConfigurableResource):
    """Reports directory and mail settings; email is skipped (not_configured) without SMTP."""

    reports_dir: str
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_sender: str | None = None
    smtp_recipients: list[str] = Field(default_factory=list)
    smtp_username: str | None = None
    smtp_starttls: bool = True
    smtp_password: str | None = None

    @property
    def directory(self) -> Path:
        return Path(self.reports_dir)

    def smtp(self) -> SmtpConfig:
        return SmtpConfig(
            host=self.smtp_host,
            port=self.smtp_port,
            sender=self.smtp_sender,
            recipients=tuple(self.smtp_recipients),
            username=self.smtp_username,
            password=SecretStr(self.smtp_password) if self.smtp_password else None,
            starttls=self.smtp_starttls,
        )


def reports_resource(settings: Any) -> ReportsResource:
    """The resource for a `Settings` object (reports_dir and QUANT_SMTP_*)."""
    smtp = SmtpConfig.from_settings(settings)
    return ReportsResource(
        reports_dir=str(settings.reports_dir),
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_sender=smtp.sender,
        smtp_recipients=list(smtp.recipients),
        smtp_username=smtp.username,
        smtp_starttls=smtp.starttls,
        smtp_password=env_secret(SMTP_PASSWORD_ENV, smtp.password),
    )

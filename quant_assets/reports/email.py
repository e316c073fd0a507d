"""Mail a rendered report: MIME building, SMTP delivery with retries, a result with a status.

Message structure (what mail clients expect for HTML with inline images):
    multipart/alternative
      text/plain                      the text rendering
      multipart/related
        text/html                     images referenced as cid:<content-id>
        image/png (Content-ID, inline)  one per chart

Delivery: STARTTLS when `starttls` (port 465 means implicit TLS instead), AUTH when a
username is set. Transient failures (connection refused/reset/timeout, a dropped
connection, any 4xx reply) are retried with exponential backoff; permanent ones (5xx,
bad credentials, TLS verification failure) are not. The outcome is a `DeliveryResult`
(sent / not_configured / failed); `raise_for_status()` turns a failure into a
`DeliveryError` naming the host and the last error. Sending never touches the report
files: they are written before and kept whatever happens.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Literal

from pydantic import SecretStr
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from quant_assets.reports.render import RenderedReport

log = logging.getLogger(__name__)

DeliveryStatus = Literal["sent", "not_configured", "failed"]
IMPLICIT_TLS_PORT = 465


class DeliveryError(RuntimeError):
    """The report could not be mailed; names the SMTP host and the last error."""

    def __init__(self, host: str | None, port: int, attempts: int, last_error: str) -> None:
        self.host, self.port, self.attempts, self.last_error = host, port, attempts, last_error
        super().__init__(
            f"email to SMTP server {host}:{port} failed after {attempts} attempt(s): {last_error}"
        )


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send; `from_settings` reads the QUANT_SMTP_* settings."""

    host: str | None
    port: int = 587
    sender: str | None = None
    recipients: tuple[str, ...] = ()
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    starttls: bool = True
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)  # None: system CAs

    @classmethod
    def from_settings(cls, settings: Any) -> SmtpConfig:
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            sender=settings.smtp_sender,
            recipients=tuple(settings.smtp_recipients),
            username=settings.smtp_username,
            password=settings.smtp_password,
            starttls=settings.smtp_starttls,
        )

    @property
    def configured(self) -> bool:
        return bool(self.host and self.sender and self.recipients)

    def missing(self) -> list[str]:
        names = {
            "QUANT_SMTP_HOST": self.host,
            "QUANT_SMTP_SENDER": self.sender,
            "QUANT_SMTP_RECIPIENTS": self.recipients,
        }
        return [name for name, value in names.items() if not value]


@dataclass(frozen=True)
class DeliveryResult:
    status: DeliveryStatus
    host: str | None = None
    port: int | None = None
    attempts: int = 0
    recipients: tuple[str, ...] = ()
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)  # accepted by others
    message_id: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Sent, or deliberately skipped because email is not configured."""
        return self.status != "failed"

    def raise_for_status(self) -> None:
        if self.status == "failed":
            raise DeliveryError(self.host, self.port or 0, self.attempts, self.detail)


# --- message ------------------------------------------------------------------------------


def build_message(
    rendered: RenderedReport,
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str | None = None,
) -> EmailMessage:
    """The report as multipart/alternative: text/plain, then text/html + inline PNGs."""
    msg = EmailMessage()
    msg["Subject"] = subject or rendered.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html_email, subtype="html")
    html_part = msg.get_payload()[1]
    for image in rendered.images:
        html_part.add_related(
            image.png,
            maintype="image",
            subtype="png",
            cid=f"<{image.cid}>",
            filename=image.filename,
            disposition="inline",
        )
    return msg


# --- transport ----------------------------------------------------------------------------


def is_transient(exc: BaseException) -> bool:
    """Worth another try: network trouble, a dropped connection, or a 4xx reply."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(400 <= code < 500 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):  # incl. auth, data, connect errors
        return 400 <= exc.smtp_code < 500
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, ssl.SSLError | smtplib.SMTPNotSupportedError):
        return False  # bad certificate or no STARTTLS/AUTH: retrying will not help
    return isinstance(exc, OSError)  # refused, reset, unreachable, timeout


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = (
            exc.smtp_error.decode(errors="replace")
            if isinstance(exc.smtp_error, bytes)
            else str(exc.smtp_error)
        )
        return f"{type(exc).__name__} {exc.smtp_code} {text}".strip()
    return f"{type(exc).__name__}: {exc}"


def _send_once(
    msg: EmailMessage,
    config: SmtpConfig,
    smtp_factory: Callable[..., smtplib.SMTP] | None,
) -> dict[str, tuple[int, str]]:
    context = config.ssl_context or ssl.create_default_context()
    if smtp_factory is not None:
        client = smtp_factory(config.host, config.port, timeout=config.timeout)
    elif config.port == IMPLICIT_TLS_PORT:
        client = smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout, context=context)
    else:
        client = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    with client:
        client.ehlo()
        if config.starttls and config.port != IMPLICIT_TLS_PORT:
            client.starttls(context=context)
            client.ehlo()
        if config.username:
            password = config.password.get_secret_value() if config.password else ""
            client.login(config.username, password)
        refused = client.send_message(
            msg, from_addr=config.sender, to_addrs=list(config.recipients)
        )
    return {
        rcpt: (code, text.decode(errors="replace") if isinstance(text, bytes) else str(text))
        for rcpt, (code, text) in refused.items()
    }


def send_message(
    msg: EmailMessage,
    config: SmtpConfig,
    *,
    attempts: int = 4,
    backoff: float = 2.0,
    max_wait: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    smtp_factory: Callable[..., smtplib.SMTP] | None = None,
) -> DeliveryResult:
    """Send with retries (waits backoff x 2^k seconds, capped at max_wait); never raises.

    `sleep` is injectable so tests count attempts without waiting.
    """
    if not config.configured:
        return DeliveryResult(
            "not_configured",
            host=config.host,
            port=config.port,
            detail="email not configured (set " + ", ".join(config.missing()) + ")",
        )

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "SMTP %s:%s attempt %d/%d failed (%s); retrying in %.1fs",
            config.host,
            config.port,
            state.attempt_number,
            attempts,
            _describe(exc) if exc else "?",
            state.next_action.sleep if state.next_action else 0.0,
        )

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=backoff, max=max_wait),
        retry=retry_if_exception(is_transient),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    tried = 0
    try:
        for attempt in retrying:
            with attempt:
                tried = attempt.retry_state.attempt_number
                refused = _send_once(msg, config, smtp_factory)
    except Exception as exc:  # reported, not raised: the caller decides (raise_for_status)
        detail = _describe(exc)
        log.error(
            "SMTP %s:%s delivery failed after %d attempt(s): %s",
            config.host,
            config.port,
            tried,
            detail,
        )
        return DeliveryResult(
            "failed", config.host, config.port, tried, tuple(config.recipients), detail=detail
        )
    accepted = tuple(r for r in config.recipients if r not in refused)
    return DeliveryResult(
        "sent",
        config.host,
        config.port,
        tried,
        accepted,
        refused,
        message_id=msg["Message-ID"],
        detail=f"sent to {len(accepted)} recipient(s)"
        + (f", refused {sorted(refused)}" if refused else ""),
    )


def send_report(rendered: RenderedReport, config: SmtpConfig, **kwargs: Any) -> DeliveryResult:
    """Build the message from a rendered report and send it (or skip when not configured)."""
    if not config.configured:
        return send_message(EmailMessage(), config)
    msg = build_message(rendered, sender=config.sender or "", recipients=config.recipients)
    return send_message(msg, config, **kwargs)

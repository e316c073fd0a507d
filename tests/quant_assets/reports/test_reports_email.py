"""Email delivery against a real SMTP server (aiosmtpd) on 127.0.0.1.

Covers: MIME structure (text/plain alternative, HTML with cid: images and matching
Content-IDs), recipients, STARTTLS + AUTH with a self-signed certificate made here,
retries with backoff on 451 and on connection refused (fake sleep), permanent failures
not retried, "not configured" as a skip, and the report files kept when mail fails.
"""

from __future__ import annotations

import datetime as dt
import email
import socket
import ssl
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from pydantic import SecretStr

from quant_assets.reports import (
    DeliveryError,
    SmtpConfig,
    publish,
    send_report,
)
from quant_assets.reports.email import is_transient
from quant_assets.settings import Settings

SENDER = "reports@quant.example"
RECIPIENTS = ("alice@quant.example", "bob@quant.example")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler:
    """Stores messages; answers DATA with `replies` in turn (then 250)."""

    def __init__(self, replies: list[str] | None = None) -> None:
        self.replies = list(replies or [])
        self.data_calls = 0
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.data_calls += 1
        if self.replies:
            return self.replies.pop(0)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    """Start an aiosmtpd server: smtp_server(handler, **server_kwargs) -> port."""
    started = []

    def start(handler, **kwargs) -> int:
        port = _free_port()
        controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        started.append(controller)
        return port

    yield start
    for controller in started:
        controller.stop()


def _config(port: int, **kw) -> SmtpConfig:
    base = dict(
        host="127.0.0.1",
        port=port,
        sender=SENDER,
        recipients=RECIPIENTS,
        starttls=False,
        timeout=5.0,
    )
    return SmtpConfig(**{**base, **kw})


class FakeSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def _check_message(raw: bytes, rendered) -> None:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    plain, related = msg.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert plain.get_content().replace("\r\n", "\n").strip() == rendered.text.strip()
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    html = html_part.get_content()
    assert "521.37" in html and "SAMPLE DATA" in html
    ids = {img["Content-ID"].strip("<>"): img for img in images}
    assert len(ids) == len(rendered.images) == 5
    # Every cid: reference in the HTML has its image part, with the same bytes.
    refs = {im.cid for im in rendered.images}
    assert refs == set(ids)
    for im in rendered.images:
        assert f'src="cid:{im.cid}"' in html
        part = ids[im.cid]
        assert part.get_content_type() == "image/png"
        assert part.get_content_disposition() == "inline"
        assert part.get_content() == im.png
    assert msg["Subject"] == rendered.subject
    assert msg["From"] == SENDER
    assert [a.strip() for a in msg["To"].split(",")] == list(RECIPIENTS)


def test_message_delivered_with_inline_images(smtp_server, rendered_sod):
    handler = Handler()
    port = smtp_server(handler)
    rendered = rendered_sod
    result = send_report(rendered, _config(port), sleep=FakeSleep())
    assert (result.status, result.attempts, result.recipients) == ("sent", 1, RECIPIENTS)
    (envelope,) = handler.envelopes
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == list(RECIPIENTS)
    _check_message(envelope.original_content, rendered)


def _self_signed() -> tuple[bytes, bytes]:
    x509 = pytest.importorskip("cryptography.x509")
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


@pytest.fixture
def tls(tmp_path):
    """(server SSLContext, client SSLContext trusting only the self-signed certificate)."""
    cert_pem, key_pem = _self_signed()
    (tmp_path / "cert.pem").write_bytes(cert_pem)
    (tmp_path / "key.pem").write_bytes(key_pem)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    client = ssl.create_default_context(cadata=cert_pem.decode())
    return server, client


class Authenticator:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password, self.seen = user.encode(), password.encode(), []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        self.seen.append((mechanism, auth_data.login, session.ssl is not None))
        ok = (auth_data.login, auth_data.password) == (self.user, self.password)
        return AuthResult(success=ok, handled=False)


def test_starttls_and_auth(smtp_server, tls, rendered_sod):
    server_ctx, client_ctx = tls
    handler, auth = Handler(), Authenticator("reporter", "s3cret")
    port = smtp_server(
        handler,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=auth,
        auth_required=True,
        auth_require_tls=True,
    )
    rendered = rendered_sod
    config = _config(
        port,
        starttls=True,
        ssl_context=client_ctx,
        username="reporter",
        password=SecretStr("s3cret"),
    )
    assert "s3cret" not in repr(config)
    result = send_report(rendered, config, sleep=FakeSleep())
    assert result.status == "sent", result.detail
    assert len(auth.seen) == 1 and auth.seen[0][1:] == (b"reporter", True)  # over TLS
    (envelope,) = handler.envelopes
    _check_message(envelope.original_content, rendered)

    # Wrong password: 535 is permanent, so one attempt and no sleep.
    sleep = FakeSleep()
    bad = send_report(
        rendered,
        _config(
            port,
            starttls=True,
            ssl_context=client_ctx,
            username="reporter",
            password=SecretStr("nope"),
        ),
        sleep=sleep,
    )
    assert (bad.status, bad.attempts, sleep.waits) == ("failed", 1, [])
    assert "535" in bad.detail and "nope" not in bad.detail

    # A certificate the client does not trust is not retried either.
    sleep = FakeSleep()
    untrusted = send_report(
        rendered,
        _config(port, starttls=True, username="reporter", password=SecretStr("s3cret")),
        sleep=sleep,
    )
    assert (untrusted.status, untrusted.attempts) == ("failed", 1)
    assert "SSLCertVerificationError" in untrusted.detail


def test_451_is_retried_then_reported_and_files_are_kept(smtp_server, sod_report, tmp_path):
    handler = Handler(["451 4.3.0 Try again later"] * 10)
    port = smtp_server(handler)
    sleep = FakeSleep()
    out = publish(sod_report, tmp_path, _config(port), attempts=3, backoff=2.0, sleep=sleep)
    assert out.delivery.status == "failed"
    assert out.delivery.attempts == 3 and handler.data_calls == 3
    assert sleep.waits == [2.0, 4.0]  # exponential backoff between the 3 attempts
    assert "451" in out.delivery.detail and "Try again later" in out.delivery.detail
    with pytest.raises(DeliveryError, match=r"127\.0\.0\.1:\d+ failed after 3 attempt\(s\).*451"):
        out.delivery.raise_for_status()
    for path in out.saved.paths:
        assert path.is_file()
    assert out.saved.html == tmp_path / "2026-11-20" / "sod.html"


def test_transient_failure_then_success(smtp_server, rendered_eod):
    handler = Handler(["421 4.7.0 Busy, try later"])
    port = smtp_server(handler)
    sleep = FakeSleep()
    result = send_report(rendered_eod, _config(port), sleep=sleep)
    assert (result.status, result.attempts, len(sleep.waits)) == ("sent", 2, 1)
    assert len(handler.envelopes) == 1


def test_connection_refused_is_retried_then_reported(sod_report, tmp_path):
    port = _free_port()  # nothing listens here
    sleep = FakeSleep()
    out = publish(
        sod_report, tmp_path, _config(port), attempts=4, backoff=1.0, max_wait=3.0, sleep=sleep
    )
    assert (out.delivery.status, out.delivery.attempts) == ("failed", 4)
    assert sleep.waits == [1.0, 2.0, 3.0]  # capped at max_wait
    assert "ConnectionRefusedError" in out.delivery.detail
    with pytest.raises(DeliveryError) as err:
        out.delivery.raise_for_status()
    assert err.value.host == "127.0.0.1" and err.value.attempts == 4
    assert out.saved.html.is_file() and out.saved.text.is_file()


def test_permanent_rejection_is_not_retried(smtp_server, rendered_sod):
    handler = Handler(["554 5.7.1 Message rejected"])
    port = smtp_server(handler)
    sleep = FakeSleep()
    result = send_report(rendered_sod, _config(port), sleep=sleep)
    assert (result.status, result.attempts, sleep.waits) == ("failed", 1, [])


def test_not_configured_is_a_skip(rendered_sod, build, tmp_path):
    report = build.sod()
    for rec in report.recommendations:
        rec.history = None  # no price charts: this test is about the skip, not drawing
    out = publish(report, tmp_path, SmtpConfig(host=None))
    assert out.delivery.status == "not_configured" and out.delivery.ok
    assert "email not configured" in out.delivery.detail
    assert "QUANT_SMTP_HOST" in out.delivery.detail
    out.delivery.raise_for_status()  # not an error
    assert out.saved.html.is_file()
    missing_recipients = SmtpConfig(host="127.0.0.1", sender=SENDER)
    assert send_report(rendered_sod, missing_recipients).status == "not_configured"


def test_config_from_settings():
    settings = Settings.load(
        smtp_host="mail.example.org",
        smtp_port=2525,
        smtp_sender=SENDER,
        smtp_recipients="alice@quant.example, bob@quant.example",
        smtp_username="u",
        smtp_password="pw",
        smtp_starttls=False,
    )
    config = SmtpConfig.from_settings(settings)
    assert config.configured
    assert (config.host, config.port, config.recipients) == ("mail.example.org", 2525, RECIPIENTS)
    assert (config.username, config.password.get_secret_value(), config.starttls) == (
        "u",
        "pw",
        False,
    )


def test_transient_classification():
    import smtplib

    assert is_transient(ConnectionRefusedError())
    assert is_transient(TimeoutError())
    assert is_transient(smtplib.SMTPServerDisconnected("gone"))
    assert is_transient(smtplib.SMTPDataError(451, b"later"))
    assert is_transient(smtplib.SMTPRecipientsRefused({"a@x": (450, b"busy")}))
    assert not is_transient(smtplib.SMTPRecipientsRefused({"a@x": (550, b"no such user")}))
    assert not is_transient(smtplib.SMTPAuthenticationError(535, b"bad credentials"))
    assert not is_transient(smtplib.SMTPNotSupportedError("no STARTTLS"))
    assert not is_transient(ssl.SSLCertVerificationError("untrusted"))
    assert not is_transient(ValueError("bug"))

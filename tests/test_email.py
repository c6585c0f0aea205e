"""plan report --email: a real SMTP server (aiosmtpd) on loopback, with STARTTLS, implicit TLS and AUTH."""

from __future__ import annotations

import email
import re
import socket
import ssl
import subprocess
from contextlib import contextmanager
from email import policy

import pytest
from click.testing import CliRunner

import report_data
from analyzer.cli import cli
from analyzer.emailer import SmtpSettings, build_message, send_report, smtp_settings
from analyzer.errors import PlanError
from helpers import tool_missing

PASSWORD = "s3cret-Pa55word-never-shown"
USER = "reporter@example.org"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1, so TLS is real and verified."""
    if tool_missing("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    return cert, key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"to": envelope.rcpt_tos, "raw": envelope.content, "authenticated": session.authenticated})
        return "250 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@contextmanager
def smtp_server(mode: str, certificate=None, *, auth: bool = True):
    """mode: starttls (upgrade offered), ssl (TLS from the first byte) or plain (no TLS at all)."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    kwargs = {}
    if mode != "plain":
        server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_ctx.load_cert_chain(*map(str, certificate))
        kwargs["ssl_context" if mode == "ssl" else "tls_context"] = server_ctx
    if auth:
        # aiosmtpd only counts STARTTLS as TLS; with implicit TLS the whole session is encrypted anyway.
        kwargs.update(authenticator=_authenticator, auth_require_tls=mode == "starttls")
    controller = Controller(inbox, hostname="127.0.0.1", port=_free_port(), **kwargs)
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    from analyzer.db import connect
    from analyzer.report import build_context

    con = connect(str(tmp_path_factory.mktemp("db") / "plan.duckdb"))
    report_data.build(con, categories=2, hostile=True)
    ctx = build_context(con)
    con.close()
    return ctx


def _client_ctx(certificate):
    return ssl.create_default_context(cafile=str(certificate[0]))


def _parts(raw: bytes):
    return email.message_from_bytes(raw, policy=policy.default)


# ---------------------------------------------------------------------------------------------------------


def test_received_message_has_text_html_and_cid_images(context, certificate):
    with smtp_server("starttls", certificate) as (inbox, port):
        settings = SmtpSettings(host="127.0.0.1", port=port, security="starttls", user=USER, password=PASSWORD, sender="plan@example.org")
        sent = send_report(context, to=["cto@example.org", "cfo@example.org"], settings=settings, ssl_context=_client_ctx(certificate))
    assert sent["to"] == ["cto@example.org", "cfo@example.org"] and sent["images"] == 4
    [received] = inbox.messages
    assert received["authenticated"] is True
    assert sorted(received["to"]) == ["cfo@example.org", "cto@example.org"]
    msg = _parts(received["raw"])
    assert msg.get_content_type() == "multipart/alternative"
    text_part, related = msg.get_payload()
    assert text_part.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert [i.get_content_type() for i in images] == ["image/png"] * 4
    html = html_part.get_content()
    referenced = set(re.findall(r'src="cid:([^"]+)"', html))
    attached = {i["Content-ID"].strip("<>") for i in images}
    assert referenced == attached and len(attached) == 4
    assert all(i.get_content().startswith(b"\x89PNG") for i in images)
    assert "data:image" not in html  # charts travel as attachments, not inline data
    text = text_part.get_content()
    assert "HEADLINE" in text and context["categories"][0]["name"] in text
    raw = received["raw"].decode("utf-8", "replace")
    for secret in (report_data.SECRET_EMAIL, report_data.SECRET_AWS, PASSWORD):
        assert secret not in raw and secret not in html and secret not in text
    assert "&lt;script&gt;" in html and "<script" not in html.lower()


def test_cli_sends_over_starttls_and_never_shows_the_password(db_path, tmp_path, certificate, monkeypatch, caplog):
    report_data_db(db_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    monkeypatch.setenv("PLAN_SMTP_USER", USER)
    monkeypatch.setenv("PLAN_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("PLAN_SMTP_FROM", "plan@example.org")
    with smtp_server("starttls", certificate) as (inbox, port):
        result = CliRunner().invoke(cli, [
            "report", "--db", db_path, "--out", str(tmp_path / "r.html"), "--email", "cto@example.org",
            "--subject", "Local model decision", "--smtp-host", "127.0.0.1", "--smtp-port", str(port), "--starttls",
        ])
    assert result.exit_code == 0, result.output
    [received] = inbox.messages
    msg = _parts(received["raw"])
    assert msg["Subject"] == "Local model decision" and msg["From"] == "plan@example.org"
    assert received["authenticated"] is True
    assert f"127.0.0.1:{port} (STARTTLS) as {USER}" in result.stderr
    for blob in (result.stdout, result.stderr, caplog.text, received["raw"].decode("utf-8", "replace")):
        assert PASSWORD not in blob


def test_cli_sends_over_implicit_tls(db_path, tmp_path, certificate, monkeypatch):
    report_data_db(db_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    monkeypatch.setenv("PLAN_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("PLAN_SMTP_USER", USER)
    monkeypatch.setenv("PLAN_SMTP_PASSWORD", PASSWORD)
    with smtp_server("ssl", certificate) as (inbox, port):
        monkeypatch.setenv("PLAN_SMTP_PORT", str(port))
        result = CliRunner().invoke(cli, ["report", "--db", db_path, "--out", str(tmp_path / "r.html"), "--email", "a@example.org", "--smtp-ssl"])
    assert result.exit_code == 0, result.output
    assert len(inbox.messages) == 1 and inbox.messages[0]["authenticated"] is True
    assert "(TLS)" in result.stderr and PASSWORD not in result.output


def test_wrong_password_is_reported_without_echoing_it(db_path, tmp_path, certificate, monkeypatch):
    report_data_db(db_path)
    wrong = "Wr0ng-" + PASSWORD
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    monkeypatch.setenv("PLAN_SMTP_USER", USER)
    monkeypatch.setenv("PLAN_SMTP_PASSWORD", wrong)
    with smtp_server("starttls", certificate) as (inbox, port):
        result = CliRunner().invoke(cli, [
            "report", "--db", db_path, "--out", str(tmp_path / "r.html"), "--email", "a@example.org",
            "--smtp-host", "127.0.0.1", "--smtp-port", str(port),
        ])
    assert result.exit_code != 0
    assert "refused the login" in result.output and "PLAN_SMTP_PASSWORD" in result.output
    assert wrong not in result.output and PASSWORD not in result.output
    assert inbox.messages == []


def test_untrusted_certificate_is_refused(context, certificate):
    with smtp_server("starttls", certificate) as (inbox, port):
        settings = SmtpSettings(host="127.0.0.1", port=port, security="starttls", sender="plan@example.org")
        with pytest.raises(PlanError, match="TLS with the SMTP server"):
            send_report(context, to=["a@example.org"], settings=settings)  # system CAs: self-signed is not trusted
    assert inbox.messages == []


def test_starttls_required_but_not_offered(context):
    with smtp_server("plain", auth=False) as (inbox, port):
        settings = SmtpSettings(host="127.0.0.1", port=port, security="starttls", sender="plan@example.org")
        with pytest.raises(PlanError, match="does not offer STARTTLS"):
            send_report(context, to=["a@example.org"], settings=settings)
    assert inbox.messages == []


def test_local_relay_without_tls_takes_mail_but_never_a_password(context):
    with smtp_server("plain", auth=False) as (inbox, port):
        relay = SmtpSettings(host="127.0.0.1", port=port, security="auto", sender="plan@example.org")
        send_report(context, to=["a@example.org"], settings=relay)
        with_password = SmtpSettings(host="127.0.0.1", port=port, security="auto", user=USER, password=PASSWORD, sender="plan@example.org")
        with pytest.raises(PlanError, match="Refusing to send the SMTP password") as excinfo:
            send_report(context, to=["a@example.org"], settings=with_password)
    assert len(inbox.messages) == 1
    assert PASSWORD not in str(excinfo.value)


def test_unredacted_context_is_never_emailed(con):
    from analyzer.report import build_context

    report_data.build(con, categories=1)
    raw = build_context(con, redact=False)
    settings = SmtpSettings(host="127.0.0.1", port=1, sender="plan@example.org")
    with pytest.raises(PlanError, match="unredacted"):
        send_report(raw, to=["a@example.org"], settings=settings)


def test_settings_precedence_and_secrets():
    env = {"PLAN_SMTP_HOST": "env.example.org", "PLAN_SMTP_PORT": "2525", "PLAN_SMTP_USER": USER, "PLAN_SMTP_PASSWORD": PASSWORD}
    config = {"email": {"host": "toml.example.org", "port": 25, "from": "toml@example.org", "security": "ssl"}}
    s = smtp_settings(host="flag.example.org", config=config, env=env)
    assert (s.host, s.port, s.user, s.password, s.sender, s.security) == ("flag.example.org", 2525, USER, PASSWORD, "toml@example.org", "ssl")
    assert PASSWORD not in repr(s) and PASSWORD not in s.describe()
    assert smtp_settings(config=config, env={}).host == "toml.example.org"
    assert smtp_settings(host="h", security="ssl", env={}).port == 465
    assert smtp_settings(host="h", security="starttls", env={}).port == 587
    assert smtp_settings(host="h", env={"PLAN_SMTP_USER": USER}).sender == USER
    with pytest.raises(PlanError, match="PLAN_SMTP_PASSWORD instead"):
        smtp_settings(config={"email": {"host": "h", "password": "x"}}, env={})
    with pytest.raises(PlanError, match="No SMTP server"):
        smtp_settings(env={})
    with pytest.raises(PlanError, match="port must be a number"):
        smtp_settings(host="h", env={"PLAN_SMTP_PORT": "smtp"})


def test_message_without_recipient_is_refused(context):
    with pytest.raises(PlanError, match="No recipient"):
        build_message(context, to=[], sender="plan@example.org")


def report_data_db(db_path):
    from analyzer.db import connect

    con = connect(db_path)
    report_data.build(con, categories=1, hostile=True)
    con.close()

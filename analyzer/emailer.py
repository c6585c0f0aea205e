"""Sending the report by email: multipart/alternative with a plain-text part and an HTML part whose charts are
CID attachments (multipart/related), through SMTP with implicit TLS or STARTTLS.

Settings: flag > environment (PLAN_SMTP_HOST, PLAN_SMTP_PORT, PLAN_SMTP_USER, PLAN_SMTP_FROM,
PLAN_SMTP_SECURITY) > ``[email]`` in plan.toml > default. The password is read only from PLAN_SMTP_PASSWORD;
it is never printed, logged, put in an error message or kept in a repr.

Security: ``ssl`` (implicit TLS, port 465) or ``starttls`` (port 587, the upgrade is required). Without
either, STARTTLS is used when the server offers it; a server that does not is only accepted on this machine
(a local relay), and a password is never sent over an unencrypted connection.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Mapping

from .errors import PlanError

SECURITY_CHOICES = ("ssl", "starttls", "auto")
DEFAULT_PORTS = {"ssl": 465, "starttls": 587, "auto": 587}
CID_DOMAIN = "plan.report"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str = "auto"
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = ""
    timeout_s: float = 30.0

    def describe(self) -> str:
        """Where the mail goes, for people; never includes the password."""
        mode = {"ssl": "TLS", "starttls": "STARTTLS", "auto": "STARTTLS when offered"}[self.security]
        who = f" as {self.user}" if self.user else ""
        return f"{self.host}:{self.port} ({mode}){who}"


def smtp_settings(
    *,
    host: str | None = None,
    port: int | None = None,
    security: str | None = None,
    user: str | None = None,
    sender: str | None = None,
    config: dict | None = None,
    env: Mapping[str, str] | None = None,
) -> SmtpSettings:
    """Resolve SMTP settings (flag > env > plan.toml [email] > default)."""
    environ: Mapping[str, str] = os.environ if env is None else env
    section = (config or {}).get("email") or {}
    if not isinstance(section, dict):
        raise PlanError("plan.toml [email] must be a table: host, port, user, from, security.")
    if "password" in section:
        raise PlanError("plan.toml [email] must not hold a password: set the environment variable PLAN_SMTP_PASSWORD instead.")

    host = host or environ.get("PLAN_SMTP_HOST") or section.get("host")
    if not host:
        raise PlanError("No SMTP server: pass --smtp-host, set PLAN_SMTP_HOST, or add host to [email] in plan.toml.")
    security = (security or environ.get("PLAN_SMTP_SECURITY") or section.get("security") or "auto").strip().lower()
    if security not in SECURITY_CHOICES:
        raise PlanError(f"SMTP security must be one of {', '.join(SECURITY_CHOICES)}, got {security!r}.")
    raw_port = port or environ.get("PLAN_SMTP_PORT") or section.get("port") or DEFAULT_PORTS[security]
    try:
        port = int(raw_port)
    except (TypeError, ValueError):
        raise PlanError(f"SMTP port must be a number, got {raw_port!r} (PLAN_SMTP_PORT or [email] port).") from None
    if not 0 < port < 65536:
        raise PlanError(f"SMTP port {port} is out of range.")
    user = user or environ.get("PLAN_SMTP_USER") or section.get("user") or None
    password = environ.get("PLAN_SMTP_PASSWORD") or None
    if password and not user:
        raise PlanError("PLAN_SMTP_PASSWORD is set but no user: set PLAN_SMTP_USER (or [email] user) too.")
    sender = sender or environ.get("PLAN_SMTP_FROM") or section.get("from")
    if not sender:
        sender = user if user and "@" in user else f"plan-report@{socket.gethostname() or 'localhost'}"
    return SmtpSettings(host=host, port=port, security=security, user=user, password=password, sender=sender)


def default_subject(context: dict) -> str:
    h = context.get("headline", {})
    from .report import FORMATTERS

    usd = FORMATTERS["usd"]
    if h.get("acceptance_measured") and h.get("monthly_savings_usd") is not None:
        return (
            f"Local LLM report: {usd(h['monthly_savings_usd'])}/month could be saved "
            f"({h.get('acceptable_categories')} of {h.get('top_categories')} top categories acceptable)"
        )
    scaled = f" ({h['sample_note']})" if h.get("sampled") and h.get("sample_note") else ""
    return f"Local LLM report: {usd(h.get('monthly_spend_usd'))}/month API spend{scaled}, acceptance not yet measured"


def build_message(context: dict, *, to: list[str] | tuple[str, ...], sender: str, subject: str | None = None) -> EmailMessage:
    """The report as a MIME message: text/plain, and text/html with the charts as related CID images."""
    from .output import clean, gate
    from .report import chart_sources, render_html, render_text

    if not to:
        raise PlanError("No recipient: pass --email ADDRESS.")
    context = gate(context, limit=None)  # mail always leaves redacted, whatever the context says
    sources, images = chart_sources(context, mode="cid")
    msg = EmailMessage()
    msg["Subject"] = clean(subject or default_subject(context), limit=200).replace("\n", " ")
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(dt.datetime.now(dt.timezone.utc))
    msg["Message-ID"] = make_msgid(domain=CID_DOMAIN)
    msg.set_content(render_text(context))
    msg.add_alternative(render_html(context, images=sources), subtype="html")
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None, "add_alternative above made the html part"
    for name, png in images.items():
        cid = sources[name][len("cid:"):]
        html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>", filename=f"{name}.png", disposition="inline")
    return msg


def _is_local_host(host: str) -> bool:
    try:
        infos = socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        return False
    addresses = {str(info[4][0]).split("%", 1)[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def _scrub(text: str, secret: str | None) -> str:
    text = text.strip().rstrip(".")
    return text.replace(secret, "********") if secret else text


def send_message(msg: EmailMessage, settings: SmtpSettings, *, ssl_context: ssl.SSLContext | None = None) -> list[str]:
    """Deliver ``msg``; returns the recipients the server accepted. Errors become a PlanError sentence."""
    import smtplib

    context = ssl_context or ssl.create_default_context()
    where = f"{settings.host}:{settings.port}"
    client: smtplib.SMTP
    try:
        if settings.security == "ssl":
            client = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_s, context=context)
        else:
            client = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
        with client:
            client.ehlo()
            encrypted = settings.security == "ssl"
            if not encrypted:
                if client.has_extn("starttls"):
                    client.starttls(context=context)
                    client.ehlo()
                    encrypted = True
                elif settings.security == "starttls":
                    raise PlanError(f"The SMTP server {where} does not offer STARTTLS. Use --smtp-ssl if it speaks TLS on connect.")
                elif not _is_local_host(settings.host):
                    raise PlanError(
                        f"The SMTP server {where} offers no encryption; the report would travel in clear text. "
                        "Use a server with STARTTLS (--starttls) or TLS (--smtp-ssl), or a relay on this machine."
                    )
            if settings.user and settings.password:
                if not encrypted:
                    raise PlanError(f"Refusing to send the SMTP password to {where} over an unencrypted connection.")
                client.login(settings.user, settings.password)
            refused = client.send_message(msg)
    except PlanError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        raise PlanError(
            f"The SMTP server {where} refused the login for {settings.user} (code {exc.smtp_code}). "
            "Check PLAN_SMTP_USER and PLAN_SMTP_PASSWORD."
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise PlanError(f"The SMTP server {where} does not support what was asked: {_scrub(str(exc), settings.password)}.") from None
    except ssl.SSLError as exc:
        raise PlanError(f"TLS with the SMTP server {where} failed: {_scrub(str(exc), settings.password)}.") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise PlanError(f"The SMTP server {where} refused every recipient: {', '.join(exc.recipients)}.") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise PlanError(f"Could not send the report through {where}: {_scrub(str(exc), settings.password) or type(exc).__name__}.") from None
    to = [a.strip() for a in str(msg["To"]).split(",") if a.strip()]
    return [a for a in to if a not in refused]


def send_report(
    context: dict,
    *,
    to: list[str] | tuple[str, ...],
    settings: SmtpSettings,
    subject: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> dict:
    """Build and send the report email. Refuses an unredacted context: log text must not leave by mail."""
    if not context.get("redacted", False):
        raise PlanError("Refusing to email an unredacted report: --no-redact is only for local files.")
    msg = build_message(context, to=list(to), sender=settings.sender, subject=subject)
    accepted = send_message(msg, settings, ssl_context=ssl_context)
    return {
        "to": accepted,
        "subject": str(msg["Subject"]),
        "server": settings.describe(),
        "bytes": len(msg.as_bytes()),
        "images": sum(1 for part in msg.walk() if part.get_content_maintype() == "image"),
    }

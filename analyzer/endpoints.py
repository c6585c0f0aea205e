"""Where the local model lives, and the gate that keeps prompts on this machine.

Resolution order for the replay endpoint: ``--endpoint`` flag > ``PLAN_ENDPOINT`` > ``OLLAMA_HOST``
(Ollama's own ``host:port`` form) > ``plan.toml [replay] endpoint`` > Ollama's default
``http://localhost:11434/v1``. The special value ``embedded`` means the bundled model (see ``serve.py``).

``ensure_local`` resolves the host through DNS and refuses any address that is not loopback, so a name
such as ``localhost.evil.example`` cannot smuggle prompts off the machine. The judge endpoint goes
through the same gate.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

from .config import setting
from .errors import PlanError

DEFAULT_ENDPOINT = "http://localhost:11434/v1"
# The Ollama library tag for Qwen 3.6 35B-A3B (ollama pull qwen3.6:35b-a3b).
DEFAULT_MODEL = "qwen3.6:35b-a3b"
EMBEDDED = "embedded"
OLLAMA_PORT = 11434


def _with_scheme(url: str) -> str:
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    return url


def normalize_endpoint(url: str) -> str:
    """An OpenAI-compatible base URL: scheme added when missing, ``/v1`` added when there is no path,
    and a pasted ``.../chat/completions`` trimmed back to the base."""
    if url.strip().lower() == EMBEDDED:
        return EMBEDDED
    parts = urlsplit(_with_scheme(url))
    if not parts.hostname:
        raise PlanError(f"Endpoint {url!r} has no host; give a URL such as {DEFAULT_ENDPOINT}.")
    path = parts.path.rstrip("/")
    for suffix in ("/chat/completions", "/completions", "/models"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    if not path:
        path = "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def ollama_host_endpoint(value: str) -> str:
    """``OLLAMA_HOST`` as Ollama reads it (``host``, ``host:port``, ``:port`` or a URL) -> its /v1 base URL.
    The bind-all addresses 0.0.0.0 and :: mean "this machine" for a client, so they become 127.0.0.1."""
    value = value.strip()
    explicit_scheme = "://" in value
    parts = urlsplit(_with_scheme(value if not value.startswith(":") else "127.0.0.1" + value))
    host = parts.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    # Ollama's own rule: 11434 for a bare host, the scheme's port when a scheme is written out.
    default_port = {"http": 80, "https": 443}.get(parts.scheme, OLLAMA_PORT) if explicit_scheme else OLLAMA_PORT
    try:
        port = parts.port or default_port
    except ValueError as exc:
        raise PlanError(f"OLLAMA_HOST={value!r} is not a valid host:port.") from exc
    shown_host = f"[{host}]" if ":" in host else host
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme or "http", f"{shown_host}:{port}", path, "", ""))


def resolve_endpoint(flag: str | None = None, config: dict | None = None, section: str = "replay") -> str:
    """The endpoint to use: flag > PLAN_ENDPOINT > OLLAMA_HOST > plan.toml [section] endpoint > default."""
    if flag:
        return normalize_endpoint(flag)
    if os.environ.get("PLAN_ENDPOINT"):
        return normalize_endpoint(os.environ["PLAN_ENDPOINT"])
    if os.environ.get("OLLAMA_HOST"):
        return ollama_host_endpoint(os.environ["OLLAMA_HOST"])
    configured = setting(config or {}, f"{section}.endpoint")
    if configured:
        return normalize_endpoint(str(configured))
    return DEFAULT_ENDPOINT


def resolve_model(flag: str | None = None, config: dict | None = None, section: str = "replay") -> str:
    """The model name: flag > PLAN_MODEL > plan.toml [section] model > the Qwen 3.6 35B-A3B Ollama tag."""
    return flag or os.environ.get("PLAN_MODEL") or setting(config or {}, f"{section}.model") or DEFAULT_MODEL


def looks_like_ollama(url: str) -> bool:
    try:
        return urlsplit(_with_scheme(url)).port == OLLAMA_PORT
    except ValueError:
        return False


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def resolve_addresses(host: str, port: int | None, resolver: Callable = socket.getaddrinfo) -> list[str]:
    infos = resolver(host, port or 80, 0, socket.SOCK_STREAM)
    seen: list[str] = []
    for info in infos:
        address = info[4][0]
        if address not in seen:
            seen.append(address)
    return seen


def ensure_local(url: str, allow_remote: bool = False, *, resolver: Callable = socket.getaddrinfo) -> str:
    """Refuse an endpoint whose host does not resolve only to loopback addresses, unless allow_remote.

    Returns the URL to connect to. For a local endpoint given by name, the host is pinned to the
    loopback address that was checked (IPv4 first), so a DNS answer that changes between the check
    and the connection (rebinding) cannot redirect the prompts.
    """
    parts = urlsplit(_with_scheme(url))
    host = parts.hostname
    if not host:
        raise PlanError(f"Endpoint {url!r} has no host.")
    if allow_remote:
        return url
    try:
        port = parts.port
    except ValueError as exc:
        raise PlanError(f"Endpoint {url!r} has an invalid port.") from exc
    try:
        addresses = resolve_addresses(host, port, resolver)
    except (socket.gaierror, UnicodeError, OSError) as exc:
        raise PlanError(
            f"Refusing endpoint host {host!r}: it does not resolve ({exc}), so it cannot be checked to be this "
            "machine (an endpoint looks like http://127.0.0.1:11434/v1). Prompts are only sent to loopback "
            "addresses; pass --allow-remote to send them elsewhere."
        ) from exc
    remote = [a for a in addresses if not _is_loopback(a)]
    if remote or not addresses:
        raise PlanError(
            f"Refusing endpoint host {host!r}: it resolves to {', '.join(remote) or 'nothing'}, which is not a "
            "loopback address, and your prompts would leave this machine. Pass --allow-remote if that is intended."
        )
    try:
        ipaddress.ip_address(host)
        return url  # already a literal loopback address
    except ValueError:
        pass
    if parts.scheme == "https":
        return url  # a certificate is issued for the name, not the address: keep the name
    pinned = sorted(addresses, key=lambda a: ":" in a)[0]
    shown = f"[{pinned}]" if ":" in pinned else pinned
    netloc = f"{shown}:{port}" if port else shown
    if parts.username or parts.password:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

import socket

import pytest

from analyzer.endpoints import (
    DEFAULT_ENDPOINT,
    DEFAULT_MODEL,
    ensure_local,
    normalize_endpoint,
    ollama_host_endpoint,
    resolve_endpoint,
    resolve_model,
)
from analyzer.errors import PlanError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("PLAN_ENDPOINT", "OLLAMA_HOST", "PLAN_MODEL"):
        monkeypatch.delenv(var, raising=False)


def fake_dns(table):
    def resolver(host, port, family=0, type=0, *args):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in table[host]]
    return resolver


def test_precedence_flag_env_ollama_host_config_default(monkeypatch):
    config = {"replay": {"endpoint": "http://127.0.0.1:9000/v1"}}
    assert resolve_endpoint(None, {}) == DEFAULT_ENDPOINT == "http://localhost:11434/v1"
    assert resolve_endpoint(None, config) == "http://127.0.0.1:9000/v1"
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11500")
    assert resolve_endpoint(None, config) == "http://127.0.0.1:11500/v1"
    monkeypatch.setenv("PLAN_ENDPOINT", "http://localhost:8000/v1")
    assert resolve_endpoint(None, config) == "http://localhost:8000/v1"
    assert resolve_endpoint("http://127.0.0.1:1234/v1", config) == "http://127.0.0.1:1234/v1"
    assert resolve_endpoint("embedded", config) == "embedded"


@pytest.mark.parametrize("value, expected", [
    ("127.0.0.1:11434", "http://127.0.0.1:11434/v1"),
    ("localhost", "http://localhost:11434/v1"),
    ("0.0.0.0", "http://127.0.0.1:11434/v1"),
    ("0.0.0.0:8080", "http://127.0.0.1:8080/v1"),
    (":11500", "http://127.0.0.1:11500/v1"),
    ("http://localhost:11434", "http://localhost:11434/v1"),
    ("https://ollama.internal", "https://ollama.internal:443/v1"),
    ("http://ollama.internal", "http://ollama.internal:80/v1"),
    ("[::1]:11434", "http://[::1]:11434/v1"),
])
def test_ollama_host_forms(value, expected):
    assert ollama_host_endpoint(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("localhost:8000", "http://localhost:8000/v1"),
    ("http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1"),
    ("http://127.0.0.1:1234/v1/", "http://127.0.0.1:1234/v1"),
    ("http://127.0.0.1:1234/v1/chat/completions", "http://127.0.0.1:1234/v1"),
    ("http://127.0.0.1:1234/api/openai/v1", "http://127.0.0.1:1234/api/openai/v1"),
])
def test_endpoint_normalisation(value, expected):
    assert normalize_endpoint(value) == expected


def test_model_default_is_the_qwen_ollama_tag_and_configurable(monkeypatch):
    assert resolve_model(None, {}) == DEFAULT_MODEL == "qwen3.6:35b-a3b"
    assert resolve_model(None, {"replay": {"model": "qwen3.6:27b"}}) == "qwen3.6:27b"
    monkeypatch.setenv("PLAN_MODEL", "from-env")
    assert resolve_model(None, {"replay": {"model": "qwen3.6:27b"}}) == "from-env"
    assert resolve_model("flag", {}) == "flag"


@pytest.mark.parametrize("url", ["http://127.0.0.1:11434/v1", "http://[::1]:8000/v1", "http://127.8.9.10/v1"])
def test_loopback_literals_pass_unchanged(url):
    assert ensure_local(url) == url


def test_localhost_passes_and_is_pinned_to_the_checked_address():
    assert ensure_local("http://localhost:11434/v1") == "http://127.0.0.1:11434/v1"
    both = fake_dns({"localhost": ["::1", "127.0.0.1"]})
    assert ensure_local("http://localhost:11434/v1", resolver=both) == "http://127.0.0.1:11434/v1"


def test_remote_address_is_refused_with_the_host_named():
    with pytest.raises(PlanError, match=r"10\.1\.2\.3.*--allow-remote"):
        ensure_local("http://10.1.2.3:11434/v1")


def test_a_name_that_looks_local_but_resolves_remote_is_refused():
    evil = fake_dns({"localhost.evil.example": ["127.0.0.1", "93.184.216.34"]})
    with pytest.raises(PlanError) as err:
        ensure_local("http://localhost.evil.example:11434/v1", resolver=evil)
    assert "'localhost.evil.example'" in str(err.value) and "93.184.216.34" in str(err.value)


def test_a_name_that_does_not_resolve_is_refused_by_real_dns():
    with pytest.raises(PlanError, match="'localhost.evil.example'"):
        ensure_local("http://localhost.evil.example:11434/v1")


def test_ipv4_mapped_loopback_counts_as_local_but_mapped_remote_does_not():
    assert ensure_local("http://[::ffff:127.0.0.1]:80/v1") == "http://[::ffff:127.0.0.1]:80/v1"
    with pytest.raises(PlanError):
        ensure_local("http://[::ffff:8.8.8.8]:80/v1")


def test_allow_remote_lets_it_through_without_resolving():
    assert ensure_local("http://gpu-box.example:8000/v1", allow_remote=True) == "http://gpu-box.example:8000/v1"

"""No secret leaves through any door (issue 15): one real-shaped log seeded with secrets and personal data of 27
kinds goes through every command that prints or writes log text (ingest, categorize, replay on a loopback stub
that echoes the prompt, judge, cost, status, privacy, report as HTML, --json, text and mail through a loopback
SMTP server, review sheets in CSV and HTML, notebook helper frames). Every output is searched for every seeded
value and for its last 12 characters; every kind must still be counted."""

from __future__ import annotations

import email
import html
import json
from email import policy

import pytest
from click.testing import CliRunner
from test_email import smtp_server

from analyzer import explore
from analyzer.cli import cli
from analyzer.db import connect, rows

PEM_BODY = "MIIEpQIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2VQk9sLr5Xw8fHq1YpN0b7cE4tUaZmJdGgKiOsRv"
SEEDED = {
    "AWS_KEY": "AKIAZ7QW3RT5YU8IO2PA",
    "AWS_SECRET_KEY": "q8Wm3Kz/Rt5Yp2Lx9Nv4Bc7Hd1Jf6Gs0Ae+TuVwX",
    "GITHUB_TOKEN": "ghp_R7tY2uI9oP3aS5dF8gH1jK4lZ6xC0vB9nM2q",
    "GITHUB_PAT": "github_pat_11AB7CDEF0ghIJ2klMN3op_QRs4TUv5WXy6Zab7CDe8FGh9IJk0LMn1OPq2RSt3UVw4XYz5ABc6DEf7",
    "SLACK_TOKEN": "xoxb-204817365920-593017482613-Qw9Er7Ty5Ui3Op1As",
    "STRIPE_KEY": "sk_live_51Hx9QkLmN3pR7sT2vW5yZ8aB4cD6eF0g",
    "OPENAI_KEY": "sk-proj-Xk2v9QmL0pR7sT4uW1yZ3aB5cD8eF2gH6jK9mN1pQ4rS7tU0vW3xY6zA",
    "ANTHROPIC_KEY": "sk-ant-api03-Pq8Wn3Lk6Jh2Gf5Ds9Ap1Mz4Xc7Vb0Nq-Rt8Yu2Io5Pl3Kj6Hg9Fd1Sa4Zx7Cv0Bn3MmQQ",
    "HUGGINGFACE_TOKEN": "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",
    "GITLAB_TOKEN": "glpat-Xy7Zq2Wr9Tp4Lm6Kn8Jb",
    "NPM_TOKEN": "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "TWILIO_KEY": "SK4f9a2b7c1d8e3f6a0b5c9d2e7f1a4b8c",
    "SENDGRID_KEY": "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",
    "AZURE_KEY": "Xq3vB9tM2kR7wL5pZ8nC4yH6jD1fG0sA+eU/iO3lK9mN5bV7cX2zQ4wE8rT6yU1aS3dF5gH7jK9lZ0xC2vB4nM6==",
    "GCP_KEY": "3f2a9c8b7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a",
    "JWT": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MjQyIiwibmFtZSI6Ik1hcmlhbmEifQ.Xk3v9QmL0pR7sT4uW1yZ3aB5cD8eF2gH6jK9mN1pQ4r",
    "PRIVATE_KEY": f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\nq9Zt3Lm\n-----END RSA PRIVATE KEY-----",
    "CRM_TOKEN": "hcy_live_Kzcn8ScoxyhXcH74W9PVxoJ7hi39",
    "PASSWORD": "Vulpes!Fennec-2231",
    "URL_PASSWORD": "Tr0ub4dor-77x",
    "EMAIL": "mariana.okafor@fjordline-logistics.no",
    "PHONE": "+1 (415) 555-2671",
    "CARD": "4929 5430 9016 7288",
    "IBAN": "DE44 5001 0517 5407 3249 31",
    "US_SSN": "078-05-1120",
    "IP_ADDRESS": "198.51.100.77",
    "IPV6": "2001:db8:85a3::8a2e:370:7334",
}
# The kind each seeded value is counted as (privacy_findings).
COUNTED_AS = {"GITHUB_PAT": "GITHUB_TOKEN", "CRM_TOKEN": "SECRET", "URL_PASSWORD": "PASSWORD", "IPV6": "IP_ADDRESS"}
HOSTILE = "<script>alert('x')</script></table>{{ 7*7 }}"
TERMINAL_ATTACK = "gpt-4o-mini\x1b]0;pwned\x07\x1b[2J"


def _mention(kind: str, value: str) -> str:
    """How the value sits in a prompt: as people paste them (code, config, tickets)."""
    return {
        "AWS_SECRET_KEY": f"aws_secret_access_key = {value}",
        "AZURE_KEY": f"DefaultEndpointsProtocol=https;AccountName=halcyonprod;AccountKey={value};EndpointSuffix=core.windows.net",
        "GCP_KEY": json.dumps({"type": "service_account", "project_id": "halcyon-prod", "private_key_id": value,
                               "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
                               "client_email": "exporter@halcyon-prod.iam.gserviceaccount.com"}),
        "CRM_TOKEN": f'import requests\n\nCRM_TOKEN = "{value}"\nrequests.post(URL, headers={{"Authorization": f"Bearer {{CRM_TOKEN}}"}})',
        "PASSWORD": f'DB_PASSWORD = "{value}"',
        "URL_PASSWORD": f"DATABASE_URL=postgres://billing:{value}@db.internal.example:5432/prod",
        "JWT": f"curl -H 'Authorization: Bearer {value}' https://api.example.org/v1/me",
    }.get(kind, value)


def _pair(i: int, system: str, history: list[dict], prompt: str, answer: str, model: str = "gpt-4o-mini") -> str:
    request = {"model": "gpt-4o-mini", "temperature": 0,
               "messages": [{"role": "system", "content": system}, *history, {"role": "user", "content": prompt}]}
    response = {"id": f"chatcmpl-seed{i:03d}", "object": "chat.completion", "created": 1761900000 + i * 3600,
                "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                                             "message": {"role": "assistant", "content": answer}}],
                "usage": {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}}
    return json.dumps({"request": request, "response": response, "duration_ms": 900})


def _log_lines() -> list[str]:
    lines = []
    kinds = list(SEEDED)
    for i, kind in enumerate(kinds):
        value = SEEDED[kind]
        if i % 2:
            system = "You review configuration files and code for security problems."
            prompt = f"Review this deployment config for service {i}:\n{_mention(kind, value)}\nAnything wrong? {HOSTILE}"
            answer = f"Remove {value} from the file and rotate it. {HOSTILE}"
        else:
            system = "You are a support agent for Halcyon Labs. Answer the customer's ticket politely."
            prompt = f"Ticket {i}: my details are {_mention(kind, value)}. Why was I charged twice? {HOSTILE}"
            answer = f"Thanks, I found the account for {value}. The second charge is refunded. {HOSTILE}"
        history = [{"role": "user", "content": f"Earlier: {_mention(kind, value)}"},
                   {"role": "assistant", "content": "Noted."}] if i % 3 == 0 else []
        lines.append(_pair(i, system, history, prompt, answer, model=TERMINAL_ATTACK if i == 1 else "gpt-4o-mini-2024-07-18"))
    # A line cut short by the exporter: a reject whose excerpt carries a key.
    lines.append('{"request": {"model": "gpt-4o", "messages": [{"role": "user", "content": "use key '
                 + SEEDED["OPENAI_KEY"] + ' and ' + SEEDED["CRM_TOKEN"] + '"}]}, "response": {"id": ')
    return lines


def _leaks(text: str) -> list[str]:
    text = text + "\n" + html.unescape(text)
    found = []
    for kind, value in SEEDED.items():
        if value in text:
            found.append(kind)
        elif value[-12:] in text:
            found.append(f"{kind} (last 12 characters)")
    if PEM_BODY[:24] in text or PEM_BODY[-12:] in text:
        found.append("PRIVATE_KEY body")
    return found


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Every command over the seeded log; returns the outputs by name and the database path."""
    from openai_stub import OpenAIStub

    tmp = tmp_path_factory.mktemp("gate")
    log = tmp / "chat_completions.jsonl"
    log.write_text("\n".join(_log_lines()) + "\n")
    db = str(tmp / "plan.duckdb")
    runner = CliRunner()
    outputs: dict[str, str] = {}

    def run(name, *args, env=None):
        result = runner.invoke(cli, [*args, "--db", db], catch_exceptions=False, env=env)
        assert result.exit_code == 0, result.output
        outputs[f"{name} stdout"] = result.stdout
        outputs[f"{name} stderr"] = result.stderr
        return result

    with OpenAIStub(lambda body: "Echo: " + "\n".join(str(m["content"]) for m in body["messages"])) as stub:
        run("ingest", "ingest", str(log))
        run("ingest --json", "ingest", str(log), "--json")
        run("categorize --json", "categorize", "--k", "2", "--top", "2", "--json")
        run("categorize", "categorize", "--k", "2", "--top", "2")
        run("replay --json", "replay", "--endpoint", stub.url, "--model", "stub-model", "--per-category", "30", "--json")
    run("judge --json", "judge", "--json")
    run("judge", "judge")
    run("cost --json", "cost", "--json")
    run("cost", "cost")
    run("status --json", "status", "--json")
    run("status", "status")
    run("privacy --json", "privacy", "--json")
    run("privacy", "privacy")
    run("report", "report", "--out", str(tmp / "report.html"))
    run("report --json", "report", "--out", str(tmp / "again.html"), "--json")
    run("report --no-redact --json", "report", "--out", str(tmp / "private.html"), "--no-redact", "--json")
    run("report --out -", "report", "--out", "-")
    for suffix in ("csv", "html"):
        run(f"review export {suffix}", "review", "export", "--out", str(tmp / f"review.{suffix}"), "--json")
        outputs[f"review sheet {suffix}"] = (tmp / f"review.{suffix}").read_text(encoding="utf-8-sig")
    outputs["report html"] = (tmp / "report.html").read_text()
    with smtp_server("plain", auth=False) as (inbox, port):
        run("report --email", "report", "--out", str(tmp / "mailed.html"), "--email", "cto@example.org",
            "--smtp-host", "127.0.0.1", "--smtp-port", str(port), env={"PLAN_SMTP_FROM": "plan@example.org"})
    [mail] = inbox.messages
    received = email.message_from_bytes(mail["raw"], policy=policy.default)
    outputs["email subject"] = str(received["Subject"])
    for part in received.walk():
        if part.get_content_type() in ("text/plain", "text/html"):
            outputs[f"email {part.get_content_type()}"] = part.get_content()
    outputs.update(_notebook_frames(db))
    return outputs, db, tmp


def _notebook_frames(db: str) -> dict[str, str]:
    con = explore.connect_readonly(db)
    try:
        cid = int(explore.spend_by_category(con)["category_id"][0])
        frames = {
            "spend_by_model": explore.spend_by_model(con),
            "spend_by_category": explore.spend_by_category(con),
            "spend_by_day": explore.spend_by_day(con, by="model"),
            "category_examples": explore.category_examples(con, cid, n=20),
            "category_replays": explore.category_replays(con, cid, n=20),
        }
        out = {f"explore {name}": frame.write_csv() for name, frame in frames.items()}
        out["explore category_card"] = json.dumps(explore.category_card(con, cid), default=str)
        out["explore overview"] = json.dumps(explore.overview(con), default=str)
    finally:
        con.close()
    return out


def test_no_seeded_value_nor_its_tail_reaches_any_output(pipeline):
    outputs, _, _ = pipeline
    assert {"categorize --json stdout", "status --json stdout", "privacy --json stdout", "report --json stdout",
            "review sheet csv", "review sheet html", "report html", "email text/plain", "email text/html",
            "explore category_examples", "explore category_replays"} <= set(outputs)
    leaks = {name: _leaks(text) for name, text in outputs.items()}
    assert {name: found for name, found in leaks.items() if found} == {}


def test_the_values_were_there_to_leak_and_every_kind_is_counted(pipeline):
    outputs, db, tmp = pipeline
    con = connect(db, read_only=True)
    stored = "\n".join(r[0] or "" for r in rows(con, "select output_text from replays"))
    prompts = "\n".join(str(m.get("content")) for r in rows(con, "select messages_json from requests")
                        for m in json.loads(r[0] or "[]"))
    counted = dict(rows(con, "select kind, count(distinct request_id) from privacy_findings group by 1"))
    con.close()
    # The stub echoed every prompt: the local answers hold the values verbatim.
    assert len(set(_leaks(stored)) & set(SEEDED)) >= len(SEEDED) - 2
    assert not set(SEEDED) - set(_leaks(prompts))
    for kind in SEEDED:
        assert counted.get(COUNTED_AS.get(kind, kind), 0) >= 1, f"{kind} was not counted: {counted}"
    # --no-redact wrote its file unredacted (a local file, owner-only) but its --json stayed redacted.
    private = (tmp / "private.html").read_text()
    assert _leaks(private) and (tmp / "private.html").stat().st_mode & 0o077 == 0
    assert _leaks(outputs["report --no-redact --json stdout"]) == []


def test_placeholders_stand_where_the_values_were(pipeline):
    outputs, _, _ = pipeline
    sheet = outputs["review sheet csv"]
    for placeholder in ("[EMAIL]", "[AWS_KEY]", "[SECRET]", "[PASSWORD]", "[PRIVATE_KEY]", "[JWT]", "[SLACK_TOKEN]"):
        assert placeholder in sheet, placeholder
    placeholders = [f"[{COUNTED_AS.get(kind, kind)}]" for kind in SEEDED]
    for name in ("report html", "email text/html", "explore category_examples"):
        assert any(p in outputs[name] for p in placeholders), name
    assert "<script>alert" not in outputs["report html"] and "&lt;script&gt;" in outputs["report html"]
    privacy = json.loads(outputs["privacy --json stdout"])
    assert privacy["kinds"]["EMAIL"] >= 1 and all(c["sensitive_share"] > 0 for c in privacy["categories"])
    report = json.loads(outputs["report --json stdout"])
    kinds = {k["kind"] for k in report["privacy"]["kinds"]}
    assert {"AWS_KEY", "EMAIL", "CARD", "IBAN", "SECRET"} <= kinds
    assert all(0 < c["sensitive_share"] <= 1 for c in report["privacy"]["categories"])


def test_no_escape_sequence_from_a_log_reaches_the_terminal(pipeline):
    outputs, _, _ = pipeline
    for name, text in outputs.items():
        assert "\x1b" not in text and "\x07" not in text, name
        if name.endswith("stdout") and "--json" in name:
            assert "\\u001b" not in text and "\\u0007" not in text, name
    # The model itself still shows, without its escape sequence.
    assert "gpt-4o-mini]0;pwned" not in outputs["status stdout"]
    assert "gpt-4o-mini" in outputs["status stdout"]


def test_reject_excerpts_are_redacted(pipeline):
    outputs, _, _ = pipeline
    status = json.loads(outputs["status --json stdout"])
    [reject] = status["rejects"]["recent"]
    assert "[OPENAI_KEY]" in reject["excerpt"]
    assert _leaks(reject["excerpt"]) == []


def test_no_redact_cannot_write_to_stdout_or_mail(pipeline):
    _, db, _ = pipeline
    runner = CliRunner()
    result = runner.invoke(cli, ["report", "--out", "-", "--no-redact", "--db", db])
    assert result.exit_code != 0 and "local file" in result.output
    result = runner.invoke(cli, ["report", "--out", "x.html", "--no-redact", "--email", "a@example.org", "--db", db])
    assert result.exit_code != 0 and "--no-redact" in result.output

"""Issue 9's acceptance test: a log seeded with known secrets and personal data of every kind goes through the
whole pipeline (ingest, categorize, replay on a loopback stub that echoes the prompt, judge, report, email,
review sheet), and none of the values appears in anything a person is shown or sent, while every kind is counted."""

from __future__ import annotations

import email
import json
from email import policy

from click.testing import CliRunner
from openai_stub import openai_stub  # noqa: F401  (fixture)
from test_email import smtp_server

from analyzer.cli import cli
from analyzer.db import connect, rows

SECRETS = {
    "AWS_KEY": "AKIAZ7QW3RT5YU8IO2PA",
    "GITHUB_TOKEN": "ghp_R7tY2uI9oP3aS5dF8gH1jK4lZ6xC0vB9nM2q",
    "SLACK_TOKEN": "xoxb-204817365920-593017482613-Qw9Er7Ty5Ui3Op1As",
    "ANTHROPIC_KEY": "sk-ant-api03-Pq8Wn3Lk6Jh2Gf5Ds9Ap1Mz4Xc7Vb",
    "PASSWORD": "Vulpes!Fennec-2231",
    "PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpQIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2VQ\n-----END RSA PRIVATE KEY-----",
    "EMAIL": "mariana.okafor@fjordline-logistics.no",
    "PHONE": "+1 (415) 555-2671",
    "CARD": "4929 5430 9016 7288",
    "IBAN": "DE44 5001 0517 5407 3249 31",
    "US_SSN": "078-05-1120",
    "IP_ADDRESS": "198.51.100.77",
}
HOSTILE = "<script>alert('x')</script></table>{{ 7*7 }}"


def _log_lines() -> list[str]:
    lines = []
    for i in range(12):
        kind = list(SECRETS)[i % len(SECRETS)]
        value = SECRETS[kind]
        prompt = (
            f"Review this deployment config for service {i}. It still has "
            + (f'password = "{value}"' if kind == "PASSWORD" else value)
            + f" in it. {HOSTILE}"
        )
        request = {
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "You review configuration files for security problems."},
                {"role": "user", "content": prompt},
            ],
            "temperature": 0,
        }
        response = {
            "id": f"chatcmpl-priv{i:03d}",
            "object": "chat.completion",
            "created": 1761900000 + i * 3600,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"Remove {value} from the file. {HOSTILE}"},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 80, "completion_tokens": 20, "total_tokens": 100},
        }
        lines.append(json.dumps({"request": request, "response": response}))
    return lines


def _leaks(text: str) -> list[str]:
    leaked = [kind for kind, value in SECRETS.items() if value in text]
    # The private key's body is what matters, wherever the header lines went.
    if "MIIEpQIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2VQ" in text:
        leaked.append("PRIVATE_KEY body")
    return leaked


def test_no_secret_reaches_any_output_and_every_kind_is_counted(tmp_path, openai_stub):  # noqa: F811
    log = tmp_path / "calls.jsonl"
    log.write_text("\n".join(_log_lines()) + "\n")
    db = str(tmp_path / "plan.duckdb")
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(cli, [*args, "--db", db], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    # The local model echoes the prompt back, so its answers carry every secret too.
    openai_stub.responder = lambda body: "Echo: " + body["messages"][-1]["content"]
    run("ingest", str(log))
    run("categorize", "--k", "1")
    run("replay", "--endpoint", openai_stub.url, "--model", "stub-model", "--per-category", "12")
    run("judge")
    html_path = tmp_path / "report.html"
    run("report", "--out", str(html_path))
    report_json = run("report", "--out", str(tmp_path / "again.html"), "--json")
    sheet = tmp_path / "review.csv"
    run("review", "export", "--out", str(sheet))
    sheet_html = tmp_path / "review.html"
    run("review", "export", "--out", str(sheet_html))
    privacy_json = run("privacy", "--json")

    with smtp_server("plain", auth=False) as (inbox, port):
        result = runner.invoke(
            cli,
            ["report", "--out", str(tmp_path / "mailed.html"), "--email", "cto@example.org", "--smtp-host", "127.0.0.1",
             "--smtp-port", str(port), "--db", db],
            env={"PLAN_SMTP_FROM": "plan@example.org"},
            catch_exceptions=False,
        )
        assert result.exit_code == 0, result.output
    assert len(inbox.messages) == 1
    received = email.message_from_bytes(inbox.messages[0]["raw"], policy=policy.default)
    mail_text = "\n".join(
        part.get_content() for part in received.walk() if part.get_content_type() in ("text/plain", "text/html")
    )

    outputs = {
        "html": html_path.read_text(),
        "json": report_json,
        "email": mail_text,
        "review csv": sheet.read_text(),
        "review html": sheet_html.read_text(),
        "privacy json": privacy_json,
    }
    for name, text in outputs.items():
        assert _leaks(text) == [], f"{name} shows {_leaks(text)}"
    # The values were there to leak: the local answers in the database hold them verbatim.
    con = connect(db, read_only=True)
    stored_answers = "\n".join(r[0] or "" for r in rows(con, "select output_text from replays"))
    assert set(_leaks(stored_answers)) >= set(SECRETS)
    counted = dict(rows(con, "select kind, count(distinct request_id) from privacy_findings group by 1"))
    con.close()
    for kind in SECRETS:
        assert counted.get(kind, 0) >= 1, f"{kind} was not counted: {counted}"
    # Typed placeholders stand where the values were, and log text is escaped, not rendered.
    for name in ("html", "email", "review csv"):
        assert any(f"[{kind}]" in outputs[name] for kind in SECRETS), name
    review_placeholders = {kind for kind in SECRETS if f"[{kind}]" in outputs["review csv"]}
    assert review_placeholders >= set(SECRETS) - {"PRIVATE_KEY"} or len(review_placeholders) >= 10
    assert "<script>alert" not in outputs["html"] and "<script>alert" not in outputs["email"]
    assert "&lt;script&gt;" in outputs["html"]
    assert "{{ 7*7 }}" in outputs["html"]

"""The redaction engine's coverage and the output gate's promises, one behaviour a test."""

from __future__ import annotations

import json

import polars as pl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from analyzer.output import clean, emit_json, gate, gate_frame, strip_controls
from analyzer.redact import detectors, redact, redact_many, redact_tree

# One value per kind the issue names, in the shape people paste it; (text, value, kind).
CASES = [
    ('CRM_TOKEN = "hcy_live_Kzcn8ScoxyhXcH74W9PVxoJ7hi39"', "hcy_live_Kzcn8ScoxyhXcH74W9PVxoJ7hi39", "SECRET"),
    ("export API_TOKEN=Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB", "Zf3D0LXCM3EIMbgJpUNnkRtOfOueHznB", "SECRET"),
    ('stripeSecretKey: "r8Kq2Lm9Xw4Tz7Pv1Nc6"', "r8Kq2Lm9Xw4Tz7Pv1Nc6", "SECRET"),
    ('DB_PASSWORD = "Vulpes!Fennec-2231"', "Vulpes!Fennec-2231", "PASSWORD"),
    ("Server=db;User Id=sa;Password=Tr0ub4dor&3x;", "Tr0ub4dor&3x", "PASSWORD"),
    ("hash_secret = '8b1118b376c313ed420e5133ba91307817ed52c2'", "8b1118b376c313ed420e5133ba91307817ed52c2", "SECRET"),
    ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
     "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c", "JWT"),
    ("AKIAZ7QW3RT5YU8IO2PA", "AKIAZ7QW3RT5YU8IO2PA", "AWS_KEY"),
    ("aws_secret_access_key = q8Wm3Kz/Rt5Yp2Lx9Nv4Bc7Hd1Jf6Gs0Ae+TuVwX", "q8Wm3Kz/Rt5Yp2Lx9Nv4Bc7Hd1Jf6Gs0Ae+TuVwX", "AWS_SECRET_KEY"),
    ("xoxb-204817365920-593017482613-Qw9Er7Ty5Ui3Op1As", "xoxb-204817365920-593017482613-Qw9Er7Ty5Ui3Op1As", "SLACK_TOKEN"),
    ("sk_live_51Hx9QkLmN3pR7sT2vW5yZ8aB4cD6eF0g", "sk_live_51Hx9QkLmN3pR7sT2vW5yZ8aB4cD6eF0g", "STRIPE_KEY"),
    ("ghp_R7tY2uI9oP3aS5dF8gH1jK4lZ6xC0vB9nM2q", "ghp_R7tY2uI9oP3aS5dF8gH1jK4lZ6xC0vB9nM2q", "GITHUB_TOKEN"),
    ("github_pat_11AB7CDEF0ghIJ2klMN3op_QRs4TUv5WXy6Zab7CDe8FGh9IJk0LMn1OPq2RSt3UVw4XYz5ABc6DEf7",
     "github_pat_11AB7CDEF0ghIJ2klMN3op_QRs4TUv5WXy6Zab7CDe8FGh9IJk0LMn1OPq2RSt3UVw4XYz5ABc6DEf7", "GITHUB_TOKEN"),
    ("sk-proj-Xk2v9QmL0pR7sT4uW1yZ3aB5cD8eF2gH6jK9mN1pQ4rS7tU0vW3xY6zA", "sk-proj-Xk2v9QmL0pR7sT4uW1yZ3aB5cD8eF2gH6jK9mN1pQ4rS7tU0vW3xY6zA",
     "OPENAI_KEY"),
    ("sk-ant-api03-Pq8Wn3Lk6Jh2Gf5Ds9Ap1Mz4Xc7Vb0Nq-Rt8Yu2Io5Pl3Kj6Hg9Fd1Sa4Zx7Cv0Bn3MmQQ",
     "sk-ant-api03-Pq8Wn3Lk6Jh2Gf5Ds9Ap1Mz4Xc7Vb0Nq-Rt8Yu2Io5Pl3Kj6Hg9Fd1Sa4Zx7Cv0Bn3MmQQ", "ANTHROPIC_KEY"),
    ("huggingface-cli login --token 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", "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", "HUGGINGFACE_TOKEN"),
    ("glpat-Xy7Zq2Wr9Tp4Lm6Kn8Jb", "glpat-Xy7Zq2Wr9Tp4Lm6Kn8Jb", "GITLAB_TOKEN"),
    ("npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "NPM_TOKEN"),
    ("SK4f9a2b7c1d8e3f6a0b5c9d2e7f1a4b8c", "SK4f9a2b7c1d8e3f6a0b5c9d2e7f1a4b8c", "TWILIO_KEY"),
    ("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",
     "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", "SENDGRID_KEY"),
    ("client_secret=bP88Q~rcBcYjzzOhg1Hnn76Wm3jGgakZiZ.8vMgR", "bP88Q~rcBcYjzzOhg1Hnn76Wm3jGgakZiZ.8vMgR", "AZURE_KEY"),
    ('{"type": "service_account", "private_key_id": "3f2a9c8b7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"}',
     "3f2a9c8b7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a", "GCP_KEY"),
    ("postgres://billing:Tr0ub4dor-77x@db.internal.example:5432/prod", "Tr0ub4dor-77x", "PASSWORD"),
    ("curl -H 'Authorization: Bearer 9f8e7d6c5b4a39281706f5e4d3c2b1a0' https://api.example.org", "9f8e7d6c5b4a39281706f5e4d3c2b1a0",
     "BEARER_TOKEN"),
    ("mariana.okafor@fjordline-logistics.no", "mariana.okafor@fjordline-logistics.no", "EMAIL"),
    ("+1 (415) 555-2671", "+1 (415) 555-2671", "PHONE"),
    ("4929 5430 9016 7288", "4929 5430 9016 7288", "CARD"),
    ("DE44 5001 0517 5407 3249 31", "DE44 5001 0517 5407 3249 31", "IBAN"),
    ("078-05-1120", "078-05-1120", "US_SSN"),
    ("198.51.100.77", "198.51.100.77", "IP_ADDRESS"),
    ("2001:db8:85a3::8a2e:370:7334", "2001:db8:85a3::8a2e:370:7334", "IP_ADDRESS"),
]


@pytest.mark.parametrize("text,value,kind", CASES, ids=[c[2] + ":" + c[0][:24] for c in CASES])
def test_each_kind_is_redacted_whole_with_its_placeholder(text, value, kind):
    out = redact(f"Please look at this: {text} thanks")
    assert value not in out and value[-12:] not in out
    assert f"[{kind}]" in out


def test_a_private_key_block_goes_whole_even_without_its_end_line():
    body = "MIIEowIBAAKCAQEAx8Zt3q9Lm2Wn5Kp7Rs4Tv6Xy8Ab1Cd3Ef5Gh7Ij9Kl0Mn2Op4Qr6St8Uv"
    full = f"-----BEGIN RSA PRIVATE KEY-----\n{body}\nq9Zt3\n-----END RSA PRIVATE KEY-----"
    assert redact(f"key:\n{full}\nend") == "key:\n[PRIVATE_KEY]\nend"
    cut = f'{{"key": "-----BEGIN OPENSSH PRIVATE KEY-----\\n{body}\\n{body[::-1]}'
    out = redact(cut)
    assert body not in out and body[::-1][-12:] not in out


def test_patterns_that_stop_early_leave_no_tail():
    # detect-secrets' own Slack and JWT patterns stop before the end of these values.
    slack = "xoxb-204817365920-593017482613-Qw9Er7Ty5Ui3Op1As"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.Xk3v9QmL0pR7sT4uW1yZ3aB5cD8eF2gH6jK9mN1pQ4r"
    out = redact(f"slack {slack}, jwt {jwt}.")
    assert out == "slack [SLACK_TOKEN], jwt [JWT]."


def test_detect_secrets_whole_plugin_registry_is_used():
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    kinds = {d.kind for d in detectors()}
    plugins = {cls.__name__ for cls in get_mapping_from_secret_type_to_class().values()}
    assert {"DiscordBotTokenDetector", "IbmCloudIamDetector", "KeywordDetector", "Base64HighEntropyString"} <= plugins
    assert {"DISCORD_TOKEN", "IBM_CLOUD_KEY", "SOFTLAYER_KEY", "CLOUDANT_KEY", "PYPI_TOKEN", "TELEGRAM_TOKEN"} <= kinds
    # detect-secrets' comparison form, which no assignment pattern covers.
    assert redact('if ("m{{h}o)p${e]nob(ody[finds>-_$#thisone}}" == password) {') == 'if ("[SECRET]" == password) {'


@pytest.mark.parametrize("text", [
    "max_tokens = 4096", "password = getpass.getpass()", "token = tokenizer.encode(text)", "if password == user.password:",
    "API_KEY = os.environ['API_KEY']", 'password = "${DB_PASSWORD}"', 'secret_name: "prod-db-credentials"',
    "use scikit-learn's Pipeline", "sk-learn-pipeline-for-text-classification", "primary_key = 'id'",
    "commit 8b1118b376c313ed420e5133ba91307817ed52c2", "id 0736f5ef-7e88-499a-80cc-90c85d2a5180",
    '"integrity": "sha512-Kq5sNDlMj6gO1x4FvAe1mVgU3uNn1Ql4aVhgPO7b0nj8Q0pPz4cM2vC2kKTnV8eW7Uo6Y4t3m1bVQJfM6YAlqQ=="',
    "![x](data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==)",
    "Order 12345678901234 shipped 2026-10-01, version 1.2.3, localhost 127.0.0.1, at 10:30:00", 'eventId="456712345678901234"',
    "chatcmpl-8x9Kq2Lm9Xw4Tz7Pv1Nc6Rt5Yb3", "std::vector<int> v; a::b",
])
def test_benign_look_alikes_are_left_alone(text):
    assert redact(text) == text


def test_a_value_found_in_one_text_leaves_every_text_of_the_document():
    prompt = 'DB_PASSWORD = "Vulpes!Fennec-2231"'
    answer = "Remove Vulpes!Fennec-2231 from the file. The log cut it to ...!Fennec-2231 here."
    out = redact_many([prompt, answer])
    assert "Vulpes!Fennec-2231" not in out[1] and "!Fennec-2231" not in out[1]
    tree = redact_tree({"prompt": prompt, "examples": [{"answer": answer}], "n": 3})
    assert "Fennec" not in json.dumps(tree) and tree["n"] == 3


@settings(max_examples=150, deadline=None)
@given(prefix=st.text(max_size=40), case=st.sampled_from(CASES), suffix=st.text(max_size=40))
def test_redaction_is_idempotent_and_never_reveals_the_value(prefix, case, suffix):
    text, value, _ = case
    once = redact(f"{prefix}\n{text}\n{suffix}")
    assert redact(once) == once
    assert value not in once


def test_terminal_escapes_and_controls_are_removed():
    hostile = "gpt-4o\x1b]0;pwned\x07 \x1b[31mred\x1b[0m \x9b2J bell\x07 nul\x00 cr\r \u202eevil\ttab\nline"
    assert strip_controls(hostile) == "gpt-4o red  bell nul cr evil\ttab\nline"
    assert clean("model AKIAZ7QW3RT5YU8IO2PA\x1b[2J") == "model [AWS_KEY]"
    assert clean("x" * 5000, limit=100).startswith("x" * 100) and "4,900 more characters cut" in clean("x" * 5000, limit=100)


def test_emit_json_is_redacted_and_escape_free(capsys):
    emit_json({"model": "gpt\x1b]0;t\x07", "excerpt": "key ghp_R7tY2uI9oP3aS5dF8gH1jK4lZ6xC0vB9nM2q", "n": 2})
    out = capsys.readouterr().out
    assert json.loads(out) == {"model": "gpt", "excerpt": "key [GITHUB_TOKEN]", "n": 2}
    assert "\\u001b" not in out


def test_notebook_frames_go_through_the_gate():
    frame = pl.DataFrame({"model": ["m\x1b[2J", "bob@example.com"], "tags": [["a", "ghp_R7tY2uI9oP3aS5dF8gH1jK4lZ6xC0vB9nM2q"], []],
                          "n": [1, 2]})
    out = gate_frame(frame)
    assert out["model"].to_list() == ["m", "[EMAIL]"]
    assert out["tags"].to_list() == [["a", "[GITHUB_TOKEN]"], []]
    assert out["n"].to_list() == [1, 2]
    # A local notebook's explicit redact=False keeps values but never the escapes.
    assert gate_frame(frame, redact=False)["model"].to_list() == ["m", "bob@example.com"]


def test_gate_keeps_structure_and_numbers():
    payload = {"requests": 12, "share": 0.25, "when": "2026-10-01T00:00:00Z", "names": ["Support tickets"], "none": None}
    assert gate(payload) == payload


def test_user_typed_values_are_shown_as_typed(capsys):
    from analyzer.output import say

    say("Sending to cto@example.org, found bob@example.com", keep=["cto@example.org"])
    assert capsys.readouterr().err == "Sending to cto@example.org, found [EMAIL]\n"


def test_every_cli_command_prints_through_the_gate():
    """A direct click.echo/print in a command would bypass the gate."""
    from pathlib import Path

    import analyzer.cli as package

    for path in Path(package.__file__).parent.glob("*.py"):
        source = path.read_text()
        assert "click.echo(" not in source and "print(" not in source and "sys.stdout.write" not in source, path.name


def test_library_errors_are_shown_through_the_gate(tmp_path):
    """Error messages lose escape sequences; what the user typed (here a file name) is shown as typed."""
    from analyzer.cli import cli

    name = "missing AKIAZ7QW3RT5YU8IO2PA\x1b]0;x\x07.jsonl"
    result = CliRunner().invoke(cli, ["ingest", str(tmp_path / name), "--db", str(tmp_path / "p.duckdb")])
    assert result.exit_code != 0
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "AKIAZ7QW3RT5YU8IO2PA" in result.output


def test_typed_values_are_kept_only_on_the_terminal(capsys):
    from analyzer import output

    output.remember_typed(["replay", "--endpoint", "http://10.1.2.3:11434/v1"])
    try:
        output.say("calling http://10.1.2.3:11434/v1 for bob@example.com")
        assert capsys.readouterr().err == "calling http://10.1.2.3:11434/v1 for [EMAIL]\n"
        assert gate({"endpoint": "http://10.1.2.3:11434/v1"}) == {"endpoint": "http://[IP_ADDRESS]:11434/v1"}
    finally:
        output.remember_typed([])


def test_short_typed_values_never_shield_a_secret(capsys):
    """`--k 2` must not keep every "2" of a key from being recognised."""
    from analyzer import output

    output.remember_typed(["categorize", "--k", "2", "--top", "10"])
    try:
        output.emit_json({"text": "my details are AKIAZ7QW3RT5YU8IO2PA and SK4f9a2b7c1d8e3f6a0b5c9d2e7f1a4b8c"})
        assert json.loads(capsys.readouterr().out) == {"text": "my details are [AWS_KEY] and [TWILIO_KEY]"}
        output.remember_typed(["report", "--email", "cto@example.org"])
        output.say("to cto@example.org and xcto@example.org.uk")
        assert capsys.readouterr().err == "to cto@example.org and [EMAIL]\n"
    finally:
        output.remember_typed([])

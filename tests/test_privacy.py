import json

from hypothesis import given, settings, strategies as st

from analyzer.privacy import category_sensitivity, redact, scan, scan_requests

SECRETS = {
    "AWS_KEY": "AKIAIOSFODNN7EXAMPLE",
    "GITHUB_TOKEN": "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
    "ANTHROPIC_KEY": "sk-ant-api03-Xk2v9QmL0pR7sT4uW1yZ3aB5cD8eF",
    "OPENAI_KEY": "sk-proj-4f9Qk2LmN8pR1sT6uV3wX0yZ7aB5cD9eF2gH",
    "SLACK_TOKEN": "xoxb-123456789012-987654321098-abcdefghijklmnop",
    "EMAIL": "priya.natarajan@acme-corp.io",
    "PHONE": "+44 20 7946 0958",
    "CARD": "4539 1488 0343 6467",
    "IBAN": "GB82 WEST 1234 5698 7654 32",
    "US_SSN": "219-09-9999",
    "IP_ADDRESS": "203.0.113.42",
}


def test_each_kind_is_found_and_replaced_by_its_placeholder():
    for kind, value in SECRETS.items():
        text = f"Please check this for me: {value} thanks"
        assert scan(text) == {kind: 1}, kind
        out = redact(text)
        assert value not in out
        assert f"[{kind}]" in out


def test_passwords_in_connection_strings_and_assignments():
    text = 'DATABASE_URL=postgres://svc_billing:Tr0ub4dor&3@10.2.3.4:5432/billing\npassword = "correct-horse-battery"'
    out = redact(text)
    assert "Tr0ub4dor&3" not in out and "correct-horse-battery" not in out
    assert out.count("[PASSWORD]") == 2


def test_private_key_block_is_removed_whole():
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx8\nq9Zt3\n-----END RSA PRIVATE KEY-----"
    out = redact(f"deploy key:\n{key}\nend")
    assert "MIIEow" not in out and "[PRIVATE_KEY]" in out


def test_ordinary_numbers_are_not_personal_data():
    text = "Order 12345678901234 shipped 2026-10-01, version 1.2.3, localhost 127.0.0.1, total 1,234.56"
    assert scan(text) == {}
    assert redact(text) == text


def test_card_needs_a_valid_luhn_checksum():
    assert scan("card 4539 1488 0343 6468") == {}


@settings(max_examples=200, deadline=None)
@given(
    prefix=st.text(max_size=40),
    kind=st.sampled_from(sorted(SECRETS)),
    suffix=st.text(max_size=40),
)
def test_redaction_is_idempotent_and_never_reveals_the_value(prefix, kind, suffix):
    value = SECRETS[kind]
    # The value on its own line: arbitrary text cannot glue onto it and make it a different number.
    text = f"{prefix}\n{value}\n{suffix}"
    once = redact(text)
    assert redact(once) == once
    assert value not in once


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_redaction_of_arbitrary_text_is_idempotent(text):
    once = redact(text)
    assert redact(once) == once


def _insert_request(con, rid, prompt, response="ok"):
    con.execute(
        "insert into requests (id, prompt_text, response_text, messages_json) values (?, ?, ?, ?)",
        [rid, prompt, response, json.dumps([{"role": "user", "content": prompt}])],
    )


def test_scan_requests_stores_kinds_and_counts_never_values(con):
    _insert_request(con, 1, f"mail {SECRETS['EMAIL']} key {SECRETS['AWS_KEY']}")
    _insert_request(con, 2, "what is the capital of France?")
    result = scan_requests(con)
    assert result == {"scanned": 2, "flagged": 1, "sampled": False}
    rows = con.execute("select request_id, kind, count from privacy_findings order by kind").fetchall()
    assert rows == [(1, "AWS_KEY", 1), (1, "EMAIL", 1)]
    dump = json.dumps(con.execute("select * from privacy_findings").fetchall())
    assert SECRETS["EMAIL"] not in dump
    # A second run scans nothing new.
    assert scan_requests(con) == {"scanned": 0, "flagged": 0, "sampled": False}


def test_category_sensitivity_share(con):
    for i in range(10):
        _insert_request(con, i, f"ticket {i} from {SECRETS['EMAIL']}" if i < 3 else f"ticket {i}")
    con.execute("insert into categories (category_id, name) values (0, 'Support tickets'), (1, 'Empty')")
    con.execute("insert into request_categories (request_id, category_id) select id, 0 from requests")
    scan_requests(con)
    rows = {r["category_id"]: r for r in category_sensitivity(con, threshold=0.25)}
    assert rows[0]["requests"] == 10 and rows[0]["with_findings"] == 3
    assert rows[0]["sensitive_share"] == 0.3 and rows[0]["sensitive"] is True
    assert rows[0]["kinds"]["EMAIL"]["requests"] == 3
    assert rows[1]["requests"] == 0 and rows[1]["sensitive"] is False


def test_large_categories_are_sampled_and_their_share_carries_an_interval(con):
    # 300 requests, 30% with an email; only 100 are scanned, the same 100 on every run.
    for i in range(300):
        _insert_request(con, i, f"ticket {i} from {SECRETS['EMAIL']}" if i % 10 < 3 else f"ticket {i}")
    con.execute("insert into categories (category_id, name) values (0, 'Support tickets')")
    con.execute("insert into request_categories (request_id, category_id) select id, 0 from requests")
    first = scan_requests(con, per_category=100)
    assert first["scanned"] == 100 and first["sampled"] is True
    assert scan_requests(con, per_category=100)["scanned"] == 0
    row = category_sensitivity(con, threshold=0.25)[0]
    assert row["requests"] == 300 and row["scanned"] == 100
    assert row["ci_low"] < 0.3 < row["ci_high"]
    assert row["ci_low"] <= row["sensitive_share"] <= row["ci_high"]
    assert row["ci_high"] - row["ci_low"] < 0.2


def _sensitive_category(con, with_secret: int, total: int = 10):
    for i in range(total):
        _insert_request(con, 100 + i, f"review: key {SECRETS['AWS_KEY']}" if i < with_secret else f"review {i}")
    con.execute("insert into categories (category_id, name) values (3, 'Code review')")
    con.execute("insert into request_categories (request_id, category_id) select id, 3 from requests")


def test_sensitive_category_with_moderate_acceptance_goes_local_for_compliance(con):
    from analyzer.privacy import compliance_decision

    _sensitive_category(con, with_secret=8)
    summary = {"category_id": 3, "acceptance": 0.6, "decision": "frontier", "decision_reason": "ci_low below target"}
    decision, reason = compliance_decision(con, summary, config={})
    assert decision == "local-for-compliance"
    assert "80%" in reason and "AWS_KEY" in reason
    assert SECRETS["AWS_KEY"] not in reason


def test_sensitive_category_with_poor_acceptance_needs_legal_review(con):
    from analyzer.privacy import compliance_decision

    _sensitive_category(con, with_secret=8)
    summary = {"category_id": 3, "acceptance": 0.2, "decision": "frontier", "decision_reason": "ci_low below target"}
    decision, reason = compliance_decision(con, summary, config={})
    assert decision == "frontier" and "legal review" in reason


def test_category_below_threshold_keeps_the_judges_decision(con):
    from analyzer.privacy import compliance_decision

    _sensitive_category(con, with_secret=1, total=40)
    summary = {"category_id": 3, "acceptance": 0.6, "decision": "frontier"}
    assert compliance_decision(con, summary, config={"privacy": {"threshold": 0.05}}) is None


def test_requests_scanned_by_an_older_engine_are_scanned_again(con):
    from analyzer.privacy import engine_version, needs_scan

    _insert_request(con, 1, 'CRM_TOKEN = "hcy_live_Kzcn8ScoxyhXcH74W9PVxoJ7hi39"')  # the old engine missed this
    con.execute("insert into privacy_scans (request_id, findings, engine) values (1, 0, null)")
    assert needs_scan(con) == "the sensitive-data detectors changed since the last scan"
    assert scan_requests(con)["scanned"] == 1
    assert con.execute("select engine from privacy_scans").fetchall() == [(engine_version(),)]
    assert con.execute("select kind, count from privacy_findings").fetchall() == [("SECRET", 1)]
    assert needs_scan(con) is None and scan_requests(con)["scanned"] == 0

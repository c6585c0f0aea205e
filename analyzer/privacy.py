"""Sensitive data: detect secrets and personal data in prompts and responses, count them per request
and per category, and redact them with typed placeholders wherever log text is shown.

Secret patterns come from detect-secrets' maintained plugins (their deny-lists), plus the key formats it
does not know yet (Anthropic, new OpenAI project keys, Google). Personal data is matched by pattern and then
validated (Luhn for cards, mod-97 for IBANs, octet ranges for IPs) to keep false positives down.
Only kinds and counts are stored, never the matched values.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from functools import lru_cache
from typing import Callable, Iterable

# detect-secrets plugin class -> our placeholder kind. Entropy and keyword plugins are left out: the first
# are too noisy on prose, the second is replaced by ASSIGNMENT below, which knows where the value ends.
_DETECT_SECRETS_KINDS = {
    "AWSKeyDetector": "AWS_KEY",
    "AzureStorageKeyDetector": "AZURE_KEY",
    "DiscordBotTokenDetector": "DISCORD_TOKEN",
    "GitHubTokenDetector": "GITHUB_TOKEN",
    "GitLabTokenDetector": "GITLAB_TOKEN",
    "JwtTokenDetector": "JWT",
    "MailchimpDetector": "MAILCHIMP_KEY",
    "OpenAIDetector": "OPENAI_KEY",
    "PypiTokenDetector": "PYPI_TOKEN",
    "SendGridDetector": "SENDGRID_KEY",
    "SlackDetector": "SLACK_TOKEN",
    "SquareOAuthDetector": "SQUARE_SECRET",
    "StripeDetector": "STRIPE_KEY",
    "TelegramBotTokenDetector": "TELEGRAM_TOKEN",
}

_EXTRA_SECRET_PATTERNS = [
    ("PRIVATE_KEY", r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)"),
    ("ANTHROPIC_KEY", r"\bsk-ant-[A-Za-z0-9_\-]{20,}"),
    ("OPENAI_KEY", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{32,}"),
    ("GOOGLE_API_KEY", r"\bAIza[0-9A-Za-z_\-]{35}"),
    ("AWS_SECRET_KEY", r"(?i:aws_?secret_?(?:access_?)?key)\s*[:=]\s*[\"']?(?P<v_aws_secret>[A-Za-z0-9/+]{40})"),
    # password in a connection string or URL: scheme://user:PASSWORD@host
    ("PASSWORD", r"\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@\"']+:(?P<v_url_password>[^\s@/\"']+)@"),
    # password = "...", api_key: ..., secret=...
    (
        "PASSWORD",
        r"(?i:\b(?:password|passwd|pwd|pass|secret|api[_\-]?key|access[_\-]?token|auth[_\-]?token|client[_\-]?secret)\b)"
        r"[\"']?\s*[:=]\s*[\"']?(?P<v_assign>(?![\[{(])[^\s\"',;]{6,})",
    ),
]

_PII_PATTERNS = [
    ("EMAIL", r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b"),
    ("IBAN", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
    ("CARD", r"(?<![\d-])(?:\d{4}([ -]?)\d{4}\1\d{4}\1\d{1,7}|\d{4}[ -]?\d{6}[ -]?\d{5})(?![\d-])"),
    ("US_SSN", r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)"),
    ("UK_NINO", r"\b(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?\d{2} ?\d{2} ?\d{2} ?[A-D]\b"),
    # Not part of a longer run of digit groups (card numbers, ids).
    ("PHONE", r"(?<![\w+])(?<!\d[ .\-])(?:\+\d{1,3}[ .\-]?)?(?:\(\d{2,4}\)[ .\-]?|\d{2,4}[ .\-])\d{3,4}[ .\-]\d{3,4}(?![\w-])(?![ .]\d)"),
    ("IP_ADDRESS", r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"),
]

PLACEHOLDER = re.compile(r"\[[A-Z][A-Z0-9_]*\]")


def _luhn_ok(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = int(ch)
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    rearranged = s[4:] + s[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in rearranged))
    except ValueError:
        return False
    return number % 97 == 1


def _card_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and _luhn_ok(digits)


def _ip_ok(text: str) -> bool:
    try:
        ip = ipaddress.IPv4Address(text)
    except ValueError:
        return False
    # Version-like strings such as 1.2.3.4 are common in prose and code; loopback and unspecified say nothing.
    return not (ip.is_loopback or ip.is_unspecified)


def _phone_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    return 9 <= len(digits) <= 15


_VALIDATORS: dict[str, Callable[[str], bool]] = {
    "CARD": _card_ok,
    "IBAN": _iban_ok,
    "IP_ADDRESS": _ip_ok,
    "PHONE": _phone_ok,
}


@lru_cache(maxsize=1)
def _compiled():
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    patterns: list[tuple[str, str]] = []
    for cls in get_mapping_from_secret_type_to_class().values():
        kind = _DETECT_SECRETS_KINDS.get(cls.__name__)
        if kind is None:
            continue
        for rx in getattr(cls(), "denylist", ()) or ():
            # Whole match: some deny-list groups hold the value, others only an alternation (ghp|gho|...).
            patterns.append((kind, "(?:" + (rx.pattern if hasattr(rx, "pattern") else str(rx)) + ")"))
    patterns.extend(_EXTRA_SECRET_PATTERNS)
    patterns.extend(_PII_PATTERNS)
    return [(kind, re.compile(p, re.VERBOSE if "\n" in p else 0)) for kind, p in patterns]


def find(text: str) -> list[tuple[int, int, str]]:
    """Spans (start, end, kind) of sensitive values, non-overlapping, leftmost-longest first."""
    if not text:
        return []
    spans = []
    for kind, rx in _compiled():
        for m in rx.finditer(text):
            value_groups = [g for g in m.groupdict() if g.startswith("v_") and m.group(g)]
            start, end = m.span(value_groups[0]) if value_groups else m.span()
            value = text[start:end].strip()
            if not value or PLACEHOLDER.fullmatch(value):
                continue
            validator = _VALIDATORS.get(kind)
            if validator and not validator(value):
                continue
            spans.append((start, end, kind))
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    merged: list[tuple[int, int, str]] = []
    for start, end, kind in spans:
        if merged and start < merged[-1][1]:
            if end > merged[-1][1]:
                prev = merged[-1]
                merged[-1] = (prev[0], end, prev[2])
            continue
        merged.append((start, end, kind))
    return merged


def scan(text: str | None) -> Counter:
    """Finding kinds and counts in one text; never the values."""
    return Counter(kind for _, _, kind in find(text or ""))


def redact(text: str | None) -> str | None:
    """Replace every finding with a typed placeholder such as [EMAIL] or [AWS_KEY]."""
    if not text:
        return text
    out = text
    for start, end, kind in reversed(find(text)):
        out = out[:start] + f"[{kind}]" + out[end:]
    return out


def redact_all(texts: Iterable[str | None]) -> list[str | None]:
    return [redact(t) for t in texts]


DEFAULT_SENSITIVE_SHARE = 0.05  # a category with findings in >= 5% of its requests is flagged


DEFAULT_SCAN_PER_CATEGORY = 2000  # a category's sensitive share from up to this many requests, with an interval


def _pending_sql(per_category: int | None, categorised: bool) -> tuple[str, list]:
    """Requests still to scan: all of them, or (once categorised) a seeded sample of each category, so a year
    of logs is not scanned line by line; the shares then carry a Wilson interval."""
    if not categorised or not per_category:
        return (
            "select r.id from requests r where not exists (select 1 from privacy_scans s where s.request_id = r.id)",
            [],
        )
    return (
        """
        with ranked as (
            select rc.request_id, row_number() over (partition by rc.category_id order by hash(rc.request_id), rc.request_id) as pick
            from request_categories rc
        )
        select k.request_id from ranked k
        where k.pick <= ? and not exists (select 1 from privacy_scans s where s.request_id = k.request_id)
        """,
        [per_category],
    )


def scan_requests(con, *, progress=None, batch_rows: int = 5000, per_category: int | None = DEFAULT_SCAN_PER_CATEGORY) -> dict:
    """Scan requests not scanned before (system prompt, every turn, response); store kinds and counts only.

    Once categorize has run, only a seeded sample of up to ``per_category`` requests per category is scanned
    (``None``: everything); the same requests are chosen on every run, so re-running scans only what is new."""
    import json as _json

    from .db import table_exists

    categorised = table_exists(con, "request_categories") and bool(
        con.execute("select count(*) from request_categories").fetchall()[0][0]
    )
    pending_sql, params = _pending_sql(per_category, categorised)
    pending = [r[0] for r in con.execute(pending_sql, params).fetchall()]
    scanned = flagged = 0
    tracker = progress(len(pending)) if progress and pending else None
    for offset in range(0, len(pending), batch_rows):
        ids = pending[offset: offset + batch_rows]
        batch = con.execute(
            f"""
            select r.id, r.system_prompt, r.messages_json, r.prompt_text, r.response_text
            from requests r where r.id in ({",".join("?" * len(ids))})
            """,
            ids,
        ).fetchall()
        scans, findings = [], []
        for request_id, system_prompt, messages_json, prompt_text, response_text in batch:
            texts = [system_prompt, prompt_text, response_text]
            if messages_json:
                try:
                    messages = _json.loads(messages_json)
                except ValueError:
                    messages = []
                # Earlier turns may carry data the last user turn does not.
                texts.extend(
                    m.get("content") if isinstance(m.get("content"), str) else _json.dumps(m.get("content"))
                    for m in (messages if isinstance(messages, list) else [])
                    if isinstance(m, dict) and m.get("role") not in ("system", "developer")
                )
            counts: Counter = Counter()
            for text in dict.fromkeys(t for t in texts if t):
                counts.update(scan(text))
            scans.append((request_id, sum(counts.values())))
            findings.extend((request_id, kind, n) for kind, n in counts.items())
            flagged += bool(counts)
        con.executemany("insert into privacy_scans values (?, ?)", scans)
        if findings:
            con.executemany("insert or replace into privacy_findings values (?, ?, ?)", findings)
        scanned += len(batch)
        if tracker is not None:
            tracker.update(len(batch))
    if tracker is not None:
        tracker.close()
    return {"scanned": scanned, "flagged": flagged, "sampled": bool(categorised and per_category)}


def category_sensitivity(con, *, threshold: float = DEFAULT_SENSITIVE_SHARE) -> list[dict]:
    """Per category: share of its scanned requests with any finding (95% Wilson interval when only a sample
    was scanned), and by kind. Needs categorize and scan_requests."""
    from .db import dicts
    from .stats import wilson_interval

    rows = dicts(
        con,
        """
        with per_request as (
            select rc.category_id, rc.request_id,
                   exists (select 1 from privacy_scans s where s.request_id = rc.request_id) as scanned,
                   exists (select 1 from privacy_findings f where f.request_id = rc.request_id) as has_finding
            from request_categories rc
        )
        select c.category_id, c.name, count(p.request_id) as requests,
               count(*) filter (where p.scanned) as scanned,
               count(*) filter (where p.scanned and p.has_finding) as with_findings
        from categories c left join per_request p using (category_id)
        where coalesce(c.named, true)  -- the named categories and Other (not the rest of the hierarchy)
        group by c.category_id, c.name order by c.category_id
        """,
    )
    kinds = dicts(
        con,
        """
        select rc.category_id, f.kind, count(distinct f.request_id) as requests
        from privacy_findings f join request_categories rc on rc.request_id = f.request_id
        group by 1, 2 order by 1, 3 desc, 2
        """,
    )
    by_category: dict = {}
    for k in kinds:
        by_category.setdefault(k["category_id"], {})[k["kind"]] = k["requests"]
    out = []
    for r in rows:
        n = r["scanned"] or 0
        share = (r["with_findings"] / n) if n else 0.0
        low, high = wilson_interval(r["with_findings"], n) if n else (0.0, 1.0)
        out.append(
            {
                "category_id": r["category_id"],
                "name": r["name"],
                "requests": r["requests"] or 0,
                "scanned": n,
                "with_findings": r["with_findings"],
                "sensitive_share": share,
                "ci_low": low,
                "ci_high": high,
                "kinds": {kind: {"requests": c, "share": c / n if n else 0.0} for kind, c in by_category.get(r["category_id"], {}).items()},
                "sensitive": n > 0 and share >= threshold,
            }
        )
    return out


DEFAULT_COMPLIANCE_MIN_ACCEPTANCE = 0.5  # "moderate": at least half the local answers accepted


def compliance_decision(con, category: dict, *, config: dict | None = None):
    """The judge's hook: a category whose sensitive share passes ``[privacy] threshold`` is recommended
    local for compliance when its acceptance is at least moderate (``[privacy] min_acceptance``), and is
    marked as needing legal review otherwise. Returns (decision, reason) or None to keep the judge's own."""
    from .config import load_config, setting

    if category.get("decision") == "local":
        return None
    config = load_config() if config is None else config
    threshold = float(setting(config, "privacy.threshold", DEFAULT_SENSITIVE_SHARE))
    min_acceptance = float(setting(config, "privacy.min_acceptance", DEFAULT_COMPLIANCE_MIN_ACCEPTANCE))
    scan_requests(con)
    row = next((r for r in category_sensitivity(con, threshold=threshold) if r["category_id"] == category["category_id"]), None)
    if row is None or not row["sensitive"]:
        return None
    kinds = ", ".join(sorted(row["kinds"], key=lambda k: -row["kinds"][k]["requests"])[:4])
    share = f"{row['sensitive_share']:.0%} of its requests carry sensitive data ({kinds})"
    acceptance = category.get("acceptance")
    if acceptance is not None and acceptance >= min_acceptance:
        return (
            "local-for-compliance",
            f"{share}, at or above the {threshold:.0%} threshold; local acceptance {acceptance:.0%} is at least "
            f"moderate ({min_acceptance:.0%}), so keeping this traffic on your hardware outweighs the quality gap.",
        )
    return (
        category.get("decision") or "frontier",
        f"{category.get('decision_reason') or ''} Needs legal review: {share}, and local acceptance is below "
        f"{min_acceptance:.0%}, so it stays on the frontier API only after a compliance review.".strip(),
    )


def redact_together(*texts: str | None) -> list[str | None]:
    """Redact texts that belong to one request (prompt, frontier answer, local answer) as a group: a value
    found in one of them (``password = "..."`` in the prompt) is also removed where it appears bare in
    another ("Remove ... from the file" in an answer), which no pattern alone would recognise."""
    values: dict[str, str] = {}
    for text in texts:
        for start, end, kind in find(text or ""):
            value = text[start:end]
            if len(value.strip()) >= 6:
                values[value] = kind
    out = []
    for text in texts:
        red = redact(text)
        if red:
            for value in sorted(values, key=len, reverse=True):
                if value in red:
                    red = red.replace(value, f"[{values[value]}]")
        out.append(red)
    return out

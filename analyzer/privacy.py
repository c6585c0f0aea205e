"""Sensitive data, the stage: scan prompts and responses for secrets and personal data, count them per request
and per category, and decide which categories are sensitive. The detectors and the redaction live in
``analyzer.redact``; every output goes through ``analyzer.output``.

Only kinds and counts are stored, never the matched values.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Iterable

from .progress import Say
from .redact import PLACEHOLDER, engine_version, find, redact, redact_many, redact_together, scan
from .settings import StageSettings, at_least, option

if TYPE_CHECKING:
    import duckdb

__all__ = ["PLACEHOLDER", "find", "redact", "redact_all", "redact_many", "redact_together", "scan", "scan_requests",
           "category_sensitivity", "compliance_decision", "needs_scan", "engine_version", "privacy",
           "PrivacySettings"]


def redact_all(texts: Iterable[str | None]) -> list[str | None]:
    return [redact(t) for t in texts]


DEFAULT_SENSITIVE_SHARE = 0.05  # a category with findings in >= 5% of its requests is flagged


DEFAULT_SCAN_PER_CATEGORY = 2000  # a category's sensitive share from up to this many requests, with an interval
DEFAULT_COMPLIANCE_MIN_ACCEPTANCE = 0.5  # "moderate": at least half the local answers accepted


def _share(value: Any) -> str | None:
    return None if value is None or 0 <= value <= 1 else "must be a share between 0 and 1"


@dataclass(frozen=True)
class PrivacySettings(StageSettings):
    """What the privacy stage is told, resolved once: flag > environment > plan.toml [privacy] > default.

    ``threshold``: the share of a category's scanned requests with findings that marks it sensitive;
    ``min_acceptance``: the acceptance a sensitive category needs to be recommended local for compliance;
    ``scan_per_category``: once categorised, a seeded sample of this many requests per category is scanned
    (0: every request)."""

    section: ClassVar[str] = "privacy"
    threshold: float = option(DEFAULT_SENSITIVE_SHARE, convert=float, check=_share)
    min_acceptance: float = option(DEFAULT_COMPLIANCE_MIN_ACCEPTANCE, convert=float, check=_share)
    scan_per_category: int = option(DEFAULT_SCAN_PER_CATEGORY, convert=int, check=at_least(0))


def _pending_sql(per_category: int | None, categorised: bool) -> tuple[str, list]:
    """Requests still to scan with this engine: all of them, or (once categorised) a seeded sample of each category,
    so a year of logs is not scanned line by line; the shares then carry a Wilson interval."""
    engine = engine_version()
    done = "exists (select 1 from privacy_scans s where s.request_id = {id} and s.engine = ?)"
    if not categorised or not per_category:
        return f"select r.id from requests r where not {done.format(id='r.id')}", [engine]
    return (
        f"""
        with ranked as (
            select rc.request_id, row_number() over (partition by rc.category_id order by hash(rc.request_id), rc.request_id) as pick
            from request_categories rc
        )
        select k.request_id from ranked k
        where k.pick <= ? and not {done.format(id='k.request_id')}
        """,
        [per_category, engine],
    )


def needs_scan(con) -> str | None:
    """Why the privacy scan should run now (a sentence), or None when every request has been scanned by this engine."""
    from .db import scalar, table_exists

    if not table_exists(con, "privacy_scans"):
        return None
    if scalar(con, "select count(*) from privacy_scans") < scalar(con, "select count(*) from requests"):
        return "some requests have not been scanned for sensitive data"
    if scalar(con, "select count(*) from privacy_scans where engine is distinct from ?", [engine_version()]):
        return "the sensitive-data detectors changed since the last scan"
    return None


def _texts_of(system_prompt, messages_json, prompt_text, response_text) -> list[str]:
    """Every text of one request: system prompt, last turn, answer, and earlier turns (they may carry data the
    last one does not)."""
    texts = [system_prompt, prompt_text, response_text]
    try:
        messages = json.loads(messages_json) if messages_json else []
    except ValueError:
        messages = []
    texts.extend(
        m.get("content") if isinstance(m.get("content"), str) else json.dumps(m.get("content"))
        for m in (messages if isinstance(messages, list) else [])
        if isinstance(m, dict) and m.get("role") not in ("system", "developer")
    )
    return list(dict.fromkeys(t for t in texts if t))


def _store(con, ids: list, scans: list[tuple], findings: list[tuple]) -> None:
    marks = ",".join("?" * len(ids))
    con.execute(f"delete from privacy_findings where request_id in ({marks})", ids)  # an older engine's findings
    con.execute(f"delete from privacy_scans where request_id in ({marks})", ids)
    con.executemany("insert into privacy_scans (request_id, findings, engine) values (?, ?, ?)", scans)
    if findings:
        con.executemany("insert into privacy_findings values (?, ?, ?)", findings)


def privacy(con: duckdb.DuckDBPyConnection, settings: PrivacySettings, *, progress: bool, say: Say) -> dict:
    """The privacy stage: scan what this engine has not scanned yet, then count findings by kind and decide which
    categories are sensitive. Returns the ``plan privacy --json`` payload."""
    from .db import rows, scalar, table_exists

    result = scan_requests(con, progress=progress, per_category=settings.scan_per_category)
    categorised = table_exists(con, "categories") and bool(scalar(con, "select count(*) from categories"))
    categories = category_sensitivity(con, threshold=settings.threshold) if categorised else []
    kinds = dict(rows(con, "select kind, count(distinct request_id) from privacy_findings group by 1 order by 2 desc, 1"))
    total = scalar(con, "select count(*) from requests")
    return {**result, "requests": total, "threshold": settings.threshold, "kinds": kinds, "categories": categories}


def scan_requests(con: duckdb.DuckDBPyConnection, *, progress: bool = False, batch_rows: int = 5000,
                  per_category: int | None = DEFAULT_SCAN_PER_CATEGORY) -> dict:
    """Scan requests not scanned by this engine before (system prompt, every turn, response); store kinds and
    counts only.

    Once categorize has run, only a seeded sample of up to ``per_category`` requests per category is scanned
    (``None``: everything); the same requests are chosen on every run, so re-running scans only what is new."""
    from .db import table_exists
    from .progress import bar

    categorised = table_exists(con, "request_categories") and bool(
        con.execute("select count(*) from request_categories").fetchall()[0][0]
    )
    pending_sql, params = _pending_sql(per_category, categorised)
    pending = [r[0] for r in con.execute(pending_sql, params).fetchall()]
    engine = engine_version()
    scanned = flagged = 0
    tracker = bar(total=len(pending), desc="scanning", unit=" req") if progress and pending else None
    for offset in range(0, len(pending), batch_rows):
        ids = pending[offset: offset + batch_rows]
        batch = con.execute(
            f"""
            select r.id, r.system_prompt, r.messages_json, r.prompt_text, r.response_text
            from requests r where r.id in ({",".join("?" * len(ids))})
            """,
            ids,
        ).fetchall()
        scans: list[tuple] = []
        findings: list[tuple] = []
        for request_id, *texts in batch:
            counts: Counter = Counter()
            for text in _texts_of(*texts):
                counts.update(scan(text))
            scans.append((request_id, sum(counts.values()), engine))
            findings.extend((request_id, kind, n) for kind, n in counts.items())
            flagged += bool(counts)
        _store(con, ids, scans, findings)
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


def compliance_decision(con, category: dict, *, config: dict | None = None, settings: PrivacySettings | None = None):
    """The judge's hook: a category whose sensitive share passes ``[privacy] threshold`` is recommended
    local for compliance when its acceptance is at least moderate (``[privacy] min_acceptance``), and is
    marked as needing legal review otherwise. Returns (decision, reason) or None to keep the judge's own."""
    from .config import load_config

    if category.get("decision") == "local":
        return None
    if settings is None:
        settings = PrivacySettings.resolve(load_config() if config is None else config)
    threshold, min_acceptance = settings.threshold, settings.min_acceptance
    scan_requests(con, per_category=settings.scan_per_category)
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

"""The human review loop: export a review sheet of judged replays, read the reviewers' verdicts back.

``export_review`` writes CSV, or a self-contained HTML page when the file name ends in .html. Each row holds the
prompt, the frontier answer, the local answer and the automatic verdict with its reasons; the reviewer fills
``human_verdict`` (pass / fail) and an optional ``note``. The HTML page has a menu per row and two buttons:
one downloads the verdicts as CSV, the other saves the page with the verdicts in it. Both import.

``import_review`` stores the verdicts in ``human_reviews`` and recomputes the per-category acceptance, where a
human verdict overrides the automatic one. A verdict is tied to the answer the reviewer saw (``answer_id``):
if the replay's answer changes later, the verdict is ignored as stale.

Every cell goes through the output gate (``analyzer.output.gate``): redacted unless ``redact=False`` (a local
file's explicit choice), always without terminal control characters.
"""

from __future__ import annotations

import csv
import functools
import re
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .db import dicts, scalar
from .errors import InputError, PlanError
from .output import gate
from .privacy import PrivacySettings
from .progress import Say
from .settings import StageSettings, at_least, option

if TYPE_CHECKING:
    import duckdb

COLUMNS = [
    "replay_id", "category", "task_type", "auto_verdict", "human_verdict", "note", "auto_reasons",
    "prompt", "frontier_answer", "local_answer", "category_id", "answer_id",
]
CELL_LIMIT = 32_000  # spreadsheet cells hold at most 32,767 characters
PASS_WORDS = {"pass", "passed", "accept", "accepted", "acceptable", "ok", "good", "yes", "y", "true", "1", "✓", "✔", "👍"}
FAIL_WORDS = {"fail", "failed", "reject", "rejected", "unacceptable", "bad", "no", "n", "false", "0", "✗", "✘", "👎"}
CLEAR_WORDS = {"clear", "reset", "auto", "none"}
ONLY = ("all", "failed", "passed", "unreviewed")


def _only(value: Any) -> str | None:
    return None if value is None or value in ONLY else f"must be one of {', '.join(ONLY)}"


@dataclass(frozen=True)
class ReviewSettings(StageSettings):
    """What ``plan review export`` and ``plan review import`` are told. The sheet, what goes in it and whether it
    is redacted are chosen on each run (flags only); ``privacy`` (plan.toml [privacy]) is what a recomputed
    acceptance needs to decide local-for-compliance."""

    section: ClassVar[str] = "review"
    sheet: str | None = option(None, flag_only=True, flag="out")
    only: str = option("all", flag_only=True, check=_only)
    category: str | int | None = option(None, flag_only=True)
    limit: int | None = option(None, flag_only=True, check=at_least(1))
    redact: bool = option(True, flag_only=True, flag="no-redact")
    privacy: PrivacySettings = option(None, flag_only=True)

    @classmethod
    def resolve(cls, config: dict | None = None, **flags: Any) -> "ReviewSettings":
        return super().resolve(config, **{"privacy": PrivacySettings.resolve(config), **flags})


def export(con: duckdb.DuckDBPyConnection, settings: ReviewSettings, *, progress: bool, say: Say) -> dict:
    """``plan review export``: write the review sheet ``settings.sheet``. Returns what was written."""
    if settings.sheet is None:
        raise PlanError("No review sheet to write: pass --out FILE (.csv, or .html for a page).")
    return export_review(con, settings.sheet, only=settings.only, category=settings.category, limit=settings.limit,
                         redact=settings.redact)


def import_verdicts(con: duckdb.DuckDBPyConnection, settings: ReviewSettings, *, progress: bool, say: Say) -> dict:
    """``plan review import``: store the verdicts of the filled-in sheet ``settings.sheet`` and recompute
    acceptance. Returns counts and the categories' new acceptance."""
    if settings.sheet is None:
        raise PlanError("No review sheet to read: give the filled-in sheet's path.")
    return import_review(con, settings.sheet, privacy=settings.privacy)


def answer_id(text: str | None) -> str:
    from .judge import output_sha256

    return output_sha256(text)[:16]


def format_replay_id(replay_id: int) -> str:
    # Spreadsheets turn a 19-digit number into 1.23457E+18 and lose digits on save: keep ids textual.
    return f"r{replay_id}"


def parse_replay_id(value: str, path, line) -> int:
    text = (value or "").strip().lstrip("#'").strip()
    if re.fullmatch(r"[rR]?-?\d+", text):
        return int(text.lstrip("rR"))
    if re.fullmatch(r"[\d.]+[eE]\+?\d+", text):
        raise InputError(path, f"replay_id {value!r} was turned into a rounded number by a spreadsheet; "
                               "re-export the sheet and keep the replay_id column as text", line)
    raise InputError(path, f"replay_id {value!r} is not a replay id (expected r followed by digits)", line)


def parse_verdict(value: str, path, line) -> bool | None | str:
    """True (pass), False (fail), None (blank: no verdict) or "clear" (remove an earlier verdict)."""
    text = re.sub(r"\s+", " ", (value or "").strip().strip(".!").casefold())
    if not text:
        return None
    if text in PASS_WORDS:
        return True
    if text in FAIL_WORDS:
        return False
    if text in CLEAR_WORDS:
        return "clear"
    raise InputError(path, f"human_verdict {value!r} is not pass or fail (or clear, to remove a verdict)", line)


def _cell(text: str | None, limit: int = CELL_LIMIT) -> str:
    text = text or ""
    if len(text) > limit:
        text = text[: limit - 20] + "… [truncated]"
    # A cell starting with = + - @ runs as a formula in spreadsheets: logs are untrusted text.
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        text = "'" + text
    return text


def _prompt_text(row: dict) -> str:
    parts = []
    if row.get("system_prompt"):
        parts.append(f"[system]\n{row['system_prompt']}")
    if row.get("prompt_text"):
        parts.append(row["prompt_text"] if not parts else f"[user]\n{row['prompt_text']}")
    return "\n\n".join(parts)


def review_rows(con, *, only: str = "all", category: str | int | None = None, limit: int | None = None,
                redact: bool = True) -> list[dict]:
    """The rows of a review sheet: one per judged replay, with the automatic verdict and any human one."""
    if only not in ONLY:
        raise PlanError(f"--only must be one of {', '.join(ONLY)}, not {only!r}.")
    if not scalar(con, "select count(*) from judgments where source = 'auto'"):
        raise PlanError("Nothing has been judged yet. Run `plan judge` first; the sheet shows its verdicts.")
    data = dicts(
        con,
        """
        select j.replay_id, any_value(j.category_id) as category_id,
               bool_and(j.passed) filter (where j.passed is not null) as auto_passed,
               string_agg(j.check_name || ': ' || j.reason, '; ' order by j.check_name) filter (where not j.passed) as reasons,
               count(*) filter (where j.passed is not null) as applied,
               any_value(r.output_text) as output_text, any_value(q.prompt_text) as prompt_text,
               any_value(q.system_prompt) as system_prompt, any_value(q.response_text) as response_text,
               any_value(c.name) as category, any_value(c.task_type) as task_type,
               any_value(h.passed) as human_passed, any_value(h.note) as note, any_value(h.output_sha256) as human_sha
        from judgments j
        join replays r on r.id = j.replay_id
        left join requests q on q.id = r.request_id
        left join categories c on c.category_id = j.category_id
        left join human_reviews h on h.replay_id = j.replay_id
        where j.source = 'auto'
        group by j.replay_id
        order by any_value(coalesce(c.spend_rank, 1000000000)), any_value(j.category_id), j.replay_id
        """,
    )
    if category is not None:
        wanted = str(category).strip().casefold()
        data = [d for d in data if str(d["category_id"]) == wanted or (d["category"] or "").strip().casefold() == wanted]
        if not data:
            raise PlanError(f"No judged replays in category {category!r}; `plan judge` lists the categories.")
    redact_group = _redactor(redact)
    out = []
    per_category: Counter = Counter()
    for d in data:
        auto = "n/a" if not d["applied"] else ("pass" if d["auto_passed"] else "fail")
        current = answer_id(d["output_text"])
        human = d["human_passed"] if d["human_sha"] in (None, current) else None
        if only == "failed" and auto != "fail":
            continue
        if only == "passed" and auto != "pass":
            continue
        if only == "unreviewed" and human is not None:
            continue
        if limit is not None and per_category[d["category_id"]] >= limit:
            continue
        per_category[d["category_id"]] += 1
        reasons, prompt, frontier, local = redact_group(
            d["reasons"] or ("no check applied" if auto == "n/a" else ""), _prompt_text(d), d["response_text"] or "",
            d["output_text"] or "")
        out.append({
            "replay_id": format_replay_id(d["replay_id"]),
            "category": d["category"] or f"Category {d['category_id']}",
            "task_type": d["task_type"] or "",
            "auto_verdict": auto,
            "human_verdict": "" if human is None else ("pass" if human else "fail"),
            "note": (d["note"] or "") if human is not None else "",
            "auto_reasons": reasons,
            "prompt": prompt,
            "frontier_answer": frontier,
            "local_answer": local,
            "category_id": d["category_id"],
            "answer_id": current,
        })
    return out


def _redactor(enabled: bool):
    """Redacts one replay's texts together, so a secret found in the prompt is removed from the answers too."""
    if not enabled:
        return lambda *texts: [t or "" for t in texts]
    from .privacy import redact_together

    return lambda *texts: [t or "" for t in redact_together(*texts)]


def export_review(con, out: str | Path, *, only: str = "all", category: str | int | None = None,
                  limit: int | None = None, redact: bool = True) -> dict:
    """Write the review sheet to ``out`` (CSV, or HTML when it ends in .html/.htm). Returns what was written."""
    out = Path(out)
    data = review_rows(con, only=only, category=category, limit=limit, redact=redact)
    if not data:
        raise PlanError(f"No replays match --only {only}; nothing to review.")
    # The sheet is one document through the output gate: a value found in any row leaves every row.
    data = gate(data, redact=redact, limit=None)
    out.parent.mkdir(parents=True, exist_ok=True)
    fmt = "html" if out.suffix.lower() in (".html", ".htm") else "csv"
    # The sheet holds prompts: owner-only, like the database.
    import os

    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8-sig" if fmt == "csv" else "utf-8", newline="") as fh:
        if fmt == "csv":
            writer = csv.DictWriter(fh, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in data:
                writer.writerow({k: _cell(str(v)) if k not in ("replay_id", "answer_id", "category_id") else v
                                 for k, v in row.items()})
        else:
            fh.write(_render_html(data, redacted=redact))
    counts = Counter(r["auto_verdict"] for r in data)
    return {
        "path": str(out),
        "format": fmt,
        "rows": len(data),
        "auto_failed": counts.get("fail", 0),
        "auto_passed": counts.get("pass", 0),
        "already_reviewed": sum(1 for r in data if r["human_verdict"]),
        "categories": len({r["category_id"] for r in data}),
        "redacted": redact,
    }


# ------------------------------------------------------------------------------------------------------------
# Import


class _SheetParser(HTMLParser):
    """Reads rows ``<tr data-replay-id data-answer-id>`` with a verdict ``<select>`` and a note ``<input>``."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows: list[dict] = []
        self._row: dict | None = None
        self._in_select = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-replay-id" in a:
            self._row = {"replay_id": a["data-replay-id"], "answer_id": a.get("data-answer-id") or "",
                         "human_verdict": "", "note": "", "_line": self.getpos()[0]}
            self.rows.append(self._row)
        elif self._row is not None and tag == "select" and a.get("name") == "verdict":
            self._in_select = True
        elif self._row is not None and self._in_select and tag == "option" and "selected" in a:
            self._row["human_verdict"] = a.get("value") or ""
        elif self._row is not None and tag in ("input", "textarea") and a.get("name") == "note":
            self._row["note"] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._in_select = False
        elif tag == "tr":
            self._row = None


def _field(record: list[str], position: int | None) -> str:
    return record[position] if position is not None and position < len(record) else ""


def read_sheet(path: str | Path) -> list[dict]:
    """Rows (replay_id, human_verdict, note, answer_id, _line) from a CSV or HTML review sheet."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(path, f"cannot read the file ({exc.strerror})") from exc
    text = raw.decode("utf-8-sig", errors="replace")
    if path.suffix.lower() in (".html", ".htm") or text.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
        parser = _SheetParser()
        parser.feed(text)
        if not parser.rows:
            raise InputError(path, "no review rows found; is this a sheet written by `plan review export`?")
        return parser.rows
    import io

    first_line = text.split("\n", 1)[0]
    # Spreadsheets in many locales save with ';' (or tabs): the header line tells which.
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), dialect=csv.excel, delimiter=delimiter)
    try:
        header = [h.strip().casefold() for h in next(reader)]
    except StopIteration:
        raise InputError(path, "the file is empty") from None
    aliases = {"replay_id": ("replay_id", "replay", "id"), "human_verdict": ("human_verdict", "verdict", "human"),
               "note": ("note", "notes", "comment", "comments"), "answer_id": ("answer_id",)}
    index = {}
    for key, names in aliases.items():
        index[key] = next((header.index(n) for n in names if n in header), None)
    if index["replay_id"] is None or index["human_verdict"] is None:
        raise InputError(path, "needs the columns replay_id and human_verdict (as written by `plan review export`)", 1)
    out = []
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        get = lambda key, record=record: _field(record, index[key])
        out.append({"replay_id": get("replay_id"), "human_verdict": get("human_verdict"), "note": get("note"),
                    "answer_id": get("answer_id"), "_line": line})
    return out


def import_review(con, path: str | Path, *, privacy: PrivacySettings | None = None) -> dict:
    """Store the verdicts of a filled-in review sheet and recompute acceptance. Returns counts and categories.
    ``privacy``: the settings the compliance decision uses (default: plan.toml in the working directory)."""
    from .judge import summarise
    from .privacy import compliance_decision

    hook = None if privacy is None else functools.partial(compliance_decision, settings=privacy)

    path = Path(path)
    sheet = read_sheet(path)
    parsed = []
    for row in sheet:
        verdict = parse_verdict(row["human_verdict"], path, row["_line"])
        if verdict is None:
            continue
        replay_id = parse_replay_id(row["replay_id"], path, row["_line"])
        note = (row.get("note") or "").strip()
        if note.startswith("'") and note[1:2] in ("=", "+", "-", "@"):
            note = note[1:]
        parsed.append((replay_id, verdict, note[:2000], (row.get("answer_id") or "").strip() or None, row["_line"]))
    replays = {r["id"]: r["output_text"] for r in dicts(
        con, "select id, output_text from replays where id in (select unnest(?::bigint[]))", [[p[0] for p in parsed]])} if parsed else {}
    unknown = [p for p in parsed if p[0] not in replays]
    if parsed and len(unknown) == len(parsed):
        raise PlanError(f"None of the {len(parsed)} replay ids in {path} is in this database; is --db the database "
                        "the sheet was exported from?")
    counts: Counter = Counter()
    con.execute("begin")
    try:
        for replay_id, verdict, note, answer, _line in parsed:
            if replay_id not in replays:
                continue
            if verdict == "clear":
                con.execute("delete from human_reviews where replay_id = ?", [replay_id])
                counts["cleared"] += 1
                continue
            seen = answer or answer_id(replays[replay_id])
            if answer and answer != answer_id(replays[replay_id]):
                counts["stale"] += 1  # the answer changed since the export: the verdict is about another answer
            con.execute(
                "insert or replace into human_reviews (replay_id, passed, note, output_sha256, source_file, reviewed_at) "
                "values (?, ?, ?, ?, ?, now()::timestamp)",
                [replay_id, verdict, note or None, seen, str(path)],
            )
            counts["passed" if verdict else "failed"] += 1
        categories = summarise(con, hook=hook) if scalar(con, "select count(*) from judgments where source = 'auto'") else []
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
    return {
        "path": str(path),
        "rows": len(sheet),
        "verdicts": counts["passed"] + counts["failed"],
        "human_passed": counts["passed"],
        "human_failed": counts["failed"],
        "cleared": counts["cleared"],
        "blank": len(sheet) - len(parsed),
        "stale": counts["stale"],
        "unknown_replay_ids": [format_replay_id(p[0]) for p in unknown][:20],
        "categories": [{k: c[k] for k in ("category_id", "name", "n", "passed", "acceptance", "ci_low", "ci_high",
                                          "decision", "human_reviewed")} for c in categories],
    }


# ------------------------------------------------------------------------------------------------------------
# The HTML sheet

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>plan review sheet ({{ rows|length }} answers)</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2433;background:#f6f7f9}
h1{font-size:20px;margin:0 0 4px} p.lead{margin:0 0 16px;color:#4a5568}
.bar{position:sticky;top:0;background:#f6f7f9;padding:8px 0;z-index:2;border-bottom:1px solid #d9dde3;margin-bottom:12px}
button{font:inherit;padding:6px 12px;margin-right:8px;border:1px solid #8893a5;border-radius:4px;background:#fff;cursor:pointer}
table{border-collapse:collapse;width:100%;background:#fff}
td,th{border:1px solid #d9dde3;padding:8px;vertical-align:top;text-align:left}
th{background:#eef1f5;font-weight:600}
pre{white-space:pre-wrap;word-break:break-word;margin:0;max-height:22em;overflow:auto;font:12.5px/1.4 ui-monospace,Menlo,Consolas,monospace}
.meta{font-size:12px;color:#4a5568} .pass{color:#176f2c;font-weight:600} .fail{color:#a3261b;font-weight:600}
.na{color:#6b7280} select,input{font:inherit;width:100%;box-sizing:border-box;margin-top:6px}
tr.done td:first-child{border-left:4px solid #5b8def}
</style></head>
<body>
<h1>Review sheet: {{ rows|length }} local answers</h1>
<p class="lead">For each row, compare the local answer with the frontier answer and choose pass or fail.
Then download the verdicts (or save this page) and run <code>plan review import FILE</code>.
Your verdict overrides the automatic one.{% if redacted %} Sensitive values are replaced by placeholders such as [EMAIL].{% endif %}</p>
<div class="bar">
<button type="button" id="dl-csv">Download verdicts (CSV)</button>
<button type="button" id="dl-html">Save this page with verdicts (HTML)</button>
<span id="count" class="meta"></span>
</div>
<table>
<thead><tr><th style="width:16%">Request</th><th style="width:28%">Prompt</th><th style="width:28%">Frontier answer</th><th style="width:28%">Local answer</th></tr></thead>
<tbody>
{% for r in rows %}
<tr data-replay-id="{{ r.replay_id }}" data-answer-id="{{ r.answer_id }}"{% if r.human_verdict %} class="done"{% endif %}>
<td><div class="meta">{{ r.replay_id }}</div>
<div><strong>{{ r.category }}</strong></div><div class="meta">{{ r.task_type }}</div>
<div>automatic: <span class="{{ 'na' if r.auto_verdict == 'n/a' else r.auto_verdict }}">{{ r.auto_verdict }}</span></div>
{% if r.auto_reasons %}<div class="meta">{{ r.auto_reasons }}</div>{% endif %}
<label>your verdict<select name="verdict">
<option value=""{% if not r.human_verdict %} selected{% endif %}>—</option>
<option value="pass"{% if r.human_verdict == 'pass' %} selected{% endif %}>pass</option>
<option value="fail"{% if r.human_verdict == 'fail' %} selected{% endif %}>fail</option>
</select></label>
<label>note<input name="note" type="text" value="{{ r.note }}"></label>
</td>
<td><pre>{{ r.prompt }}</pre></td>
<td><pre>{{ r.frontier_answer }}</pre></td>
<td><pre>{{ r.local_answer }}</pre></td>
</tr>
{% endfor %}
</tbody></table>
<script>
(function(){
  function rows(){return Array.prototype.slice.call(document.querySelectorAll('tr[data-replay-id]'));}
  function sync(){
    var done=0;
    rows().forEach(function(tr){
      var sel=tr.querySelector('select[name=verdict]'), note=tr.querySelector('input[name=note]');
      Array.prototype.forEach.call(sel.options,function(o){if(o.selected){o.setAttribute('selected','');}else{o.removeAttribute('selected');}});
      note.setAttribute('value',note.value);
      tr.className=sel.value?'done':''; if(sel.value){done++;}
    });
    document.getElementById('count').textContent=done+' of '+rows().length+' reviewed';
  }
  function q(s){s=String(s);return /[",\\n\\r]/.test(s)?'"'+s.replace(/"/g,'""')+'"':s;}
  function save(name,type,body){
    var a=document.createElement('a');a.href=URL.createObjectURL(new Blob([body],{type:type}));a.download=name;
    document.body.appendChild(a);a.click();setTimeout(function(){URL.revokeObjectURL(a.href);a.remove();},0);
  }
  document.addEventListener('change',sync);document.addEventListener('input',sync);
  document.getElementById('dl-csv').onclick=function(){
    sync();var out=['replay_id,human_verdict,note,answer_id'];
    rows().forEach(function(tr){var v=tr.querySelector('select[name=verdict]').value;
      if(v){out.push([tr.dataset.replayId,v,tr.querySelector('input[name=note]').value,tr.dataset.answerId].map(q).join(','));}});
    save('review-verdicts.csv','text/csv',out.join('\\r\\n')+'\\r\\n');
  };
  document.getElementById('dl-html').onclick=function(){
    sync();save('review-with-verdicts.html','text/html','<!doctype html>\\n'+document.documentElement.outerHTML);
  };
  sync();
})();
</script>
</body></html>
"""


def _render_html(rows: list[dict], *, redacted: bool) -> str:
    from jinja2 import Environment

    env = Environment(autoescape=True)
    return env.from_string(_HTML).render(rows=rows, redacted=redacted)

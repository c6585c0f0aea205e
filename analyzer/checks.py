"""Success checks: small named objects that look at one replayed answer and return a Verdict.

Every check has a ``name`` and ``check(case) -> Verdict(passed, score, reason)``. A check that has nothing to
say about a case (code in a language with no parser here, a comparison without a frontier answer) returns a
verdict with ``applicable=False``; judge leaves it out of the counts.

Two properties matter to the decision rule in :mod:`analyzer.judge`:

- ``objective``: right or wrong by construction (valid JSON, SQL that parses, ...), not a judgement;
- ``runtime``: it needs no frontier answer, so it could run in production on the local answer alone and send a
  failure to the frontier (a cascade). ``label_match`` is objective but needs the frontier label, so it is not.

A third, ``evidence``, says what a passed check proves, so every verdict can name what it rests on:

- ``objective``: the answer has the property the request needs, by construction (json_valid,
  json_schema_match, sql_parses, svg_renders, code_compiles, label_match, and the user's own regex/contains);
- ``llm_judge``: a judge model compared it with the frontier answer;
- ``similarity``: it is about the same thing as the frontier answer. That is all: shuffled words, a refusal
  or a cut answer can pass (benchmarks/judge_similarity_calibration.py), so it never decides a category;
- ``constraint``: a limit it stays within (max_length), which says nothing about its quality.

Checks are built by name through :data:`CHECKS` and :func:`make_check`; parameters come from plan.toml.
"""


from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import tempfile
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from .errors import PlanError

if TYPE_CHECKING:
    from .embedders import Embedder

EVIDENCE_KINDS = ("objective", "llm_judge", "similarity", "constraint")
DECISIVE_EVIDENCE = ("objective", "llm_judge")  # with human review: what may decide a category

# --------------------------------------------------------------------------------------------------------------
# Verdicts and cases


@dataclass(frozen=True)
class Verdict:
    passed: bool
    score: float | None = None
    reason: str = ""
    applicable: bool = True

    @classmethod
    def ok(cls, reason: str = "ok", score: float | None = 1.0) -> "Verdict":
        return cls(True, score, reason)

    @classmethod
    def fail(cls, reason: str, score: float | None = 0.0) -> "Verdict":
        return cls(False, score, reason)

    @classmethod
    def skip(cls, reason: str) -> "Verdict":
        return cls(False, None, reason, applicable=False)


@dataclass
class Case:
    """One replayed request: what was asked, what the frontier answered, what the local model answered."""

    prompt: str = ""
    local: str | None = None
    frontier: str | None = None
    system_prompt: str | None = None
    messages: list | None = None
    params: dict = field(default_factory=dict)  # the request's parameters: response_format, max_tokens, ...
    task_type: str | None = None
    replay_id: int | None = None
    request_id: int | None = None
    category_id: int | None = None
    error: str | None = None


# --------------------------------------------------------------------------------------------------------------
# Text helpers shared by the checks

_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\s`{]*)[^\n]*$", re.M)


def code_blocks(text: str) -> list[tuple[str, str]]:
    """Fenced code blocks as (language tag, body). An unclosed last fence (a truncated answer) runs to the end."""
    blocks = []
    pos = 0
    while True:
        m = _FENCE_OPEN.search(text, pos)
        if not m:
            break
        fence, lang = m.group(1), m.group(2).strip().lower()
        body_start = m.end() + 1
        close = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}[ \t]*$", re.M)
        c = close.search(text, body_start)
        if c:
            blocks.append((lang, text[body_start:c.start()]))
            pos = c.end()
        else:
            blocks.append((lang, text[body_start:]))
            break
    return blocks


def strip_fences(text: str, prefer: Iterable[str] = ()) -> tuple[str, bool]:
    """The payload of an answer: the fenced block (the first tagged with one of ``prefer`` if any), or the whole
    text. Returns (payload, had_prose): had_prose is True when text other than the block surrounds it."""
    stripped = (text or "").strip()
    blocks = code_blocks(stripped)
    if not blocks:
        return stripped, False
    prefer = tuple(prefer)
    chosen = next((b for b in blocks if b[0] in prefer), blocks[0])
    body = chosen[1].strip()
    outside = stripped
    for _, b in blocks:
        outside = outside.replace(b, "", 1)
    outside = re.sub(r"(`{3,}|~{3,})[^\n]*", "", outside).strip()
    return body, bool(outside) or len(blocks) > 1


def _clean_message(message: object) -> str:
    message = re.sub(r"\x1b\[[0-9;]*m", "", str(message))  # sqlglot colours the offending token
    message = re.sub(r"<Token token_type: [^,]*, text: ([^,]*),[^>]*>", r"'\1'", message)
    message = re.sub(r"\s+", " ", message).strip()
    return message[:240]


def _requested_json(params: dict) -> bool:
    rf = (params or {}).get("response_format") or {}
    if isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema"):
        return True
    fmt = ((params or {}).get("text") or {}).get("format") if isinstance((params or {}).get("text"), dict) else None
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def requested_schema(params: dict) -> dict | None:
    """The JSON Schema the request itself asked for (chat ``response_format`` or Responses ``text.format``)."""
    params = params or {}
    rf = params.get("response_format")
    if isinstance(rf, dict) and rf.get("type") == "json_schema":
        js = rf.get("json_schema") or {}
        if isinstance(js.get("schema"), dict):
            return js["schema"]
    text = params.get("text")
    if isinstance(text, dict) and isinstance(text.get("format"), dict):
        fmt = text["format"]
        if fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
            return fmt["schema"]
    return None


_SQL_START = re.compile(r"^\s*(?:\(|--|/\*)?\s*(select|with|insert|update|delete|create|alter|drop|merge|upsert|replace|"
                        r"truncate|grant|revoke|explain|show|describe|values|copy|begin|set|declare|use)\b", re.I)
_FORM_DIALECTS = (None, "postgres", "tsql", "mysql", "bigquery")  # SQL in any of these counts as SQL
_SQL_STATEMENTS = (
    "Select", "Union", "Intersect", "Except", "Insert", "Update", "Delete", "Create", "Drop", "Alter", "Merge",
    "With", "Subquery", "Values", "Command", "Show", "Describe", "Use", "Set", "Transaction", "Commit",
    "Rollback", "Copy", "Grant", "Revoke", "TruncateTable", "Pragma", "Analyze", "Cache", "Uncache", "Declare",
    "Execute", "Kill", "Refresh", "LoadData", "Summarize",
)


def detect_form(text: str | None) -> str:
    """What shape an answer has: json, svg, sql, code or text. Used to pick checks for structured generation."""
    if not text or not text.strip():
        return "text"
    blocks = code_blocks(text.strip())
    tag = blocks[0][0] if blocks else ""
    body, _ = strip_fences(text)
    if tag in ("svg", "xml") and "<svg" in body.lower() or re.search(r"<svg[\s>]", body, re.I):
        return "svg"
    if tag == "json" or body[:1] in "[{":
        try:
            json.loads(body)
            return "json"
        except ValueError:
            if tag == "json":
                return "json"
    if tag in ("sql", "postgres", "postgresql", "mysql", "sqlite", "tsql", "plsql", "bigquery", "snowflake") or (
        not tag and _SQL_START.match(body) and any(_sql_statements(body, d)[0] for d in _FORM_DIALECTS)
    ):
        return "sql"
    if tag in _LANGUAGE_ALIASES or (blocks and tag):
        return "code"
    if not blocks and re.match(r"\s*(def |class |import |from \w+ import )", body) and _python_error(body) is None:
        return "code"
    return "text"


# --------------------------------------------------------------------------------------------------------------
# The check base class and the registry


class Check:
    """Base class. Subclasses set ``name``, ``params`` (the parameters plan.toml may give) and ``check``."""

    name = ""
    objective = True
    evidence = "objective"
    needs_frontier = False
    params: dict[str, Any] = {}  # parameter -> default
    description = ""

    def __init__(self, when: str | None = None, **params):
        unknown = set(params) - set(self.params)
        if unknown:
            raise PlanError(
                f"Check {self.name} does not take {', '.join(sorted(unknown))}; "
                f"it takes {', '.join(sorted(self.params)) or 'no parameters'} (and `when`)."
            )
        self.when = when
        self.options = {**self.params, **params}
        for key, value in self.options.items():
            setattr(self, key, value)

    @property
    def runtime(self) -> bool:
        """Whether the check can gate a cascade in production: objective and needing no frontier answer."""
        return self.objective and not self.needs_frontier

    def describe(self) -> dict:
        given = {k: v for k, v in self.options.items() if v != self.params.get(k)}
        out = {"name": self.name, **given}
        if self.when:
            out["when"] = self.when
        out["objective"] = self.objective
        out["runtime"] = self.runtime
        return out

    def prepare(self, cases: list[Case]) -> None:
        """Batch work before the per-case calls (embedding all answers at once). Optional."""

    def applies(self, case: Case) -> Verdict | None:
        if self.when and detect_form(case.frontier) != self.when:
            return Verdict.skip(f"frontier answer is not {self.when}")
        if self.needs_frontier and not (case.frontier or "").strip():
            return Verdict.skip("no frontier answer to compare with")
        return None

    def run(self, case: Case) -> Verdict:
        """check() with the shared preconditions: applicability, empty answers, and no exception escaping."""
        skip = self.applies(case)
        if skip is not None:
            return skip
        if not (case.local or "").strip():
            return Verdict.fail("empty answer")
        try:
            return self.check(case)
        except PlanError:
            raise
        except Exception as exc:  # a check must never take the whole judge run down
            return Verdict.fail(f"check error: {type(exc).__name__}: {_clean_message(exc)}")

    def check(self, case: Case) -> Verdict:  # pragma: no cover - abstract
        raise NotImplementedError


CHECKS: dict[str, type[Check]] = {}


def register(cls):
    CHECKS[cls.name] = cls
    return cls


def evidence_of(check_name: str) -> str:
    """What a verdict of the named check (``json_valid`` or ``json_valid[json]``) rests on."""
    if check_name == "human":
        return "human"
    cls = CHECKS.get(check_name.split("[", 1)[0])
    return cls.evidence if cls is not None else "objective"


def make_check(spec: str | dict | Check, **defaults) -> Check:
    """A check from a name (``"json_valid"``) or a table (``{name = "regex", pattern = "^\\d+$"}``)."""
    if isinstance(spec, Check):
        return spec
    if isinstance(spec, str):
        name, params = spec, {}
    elif isinstance(spec, dict):
        params = dict(spec)
        name = params.pop("name", None) or params.pop("check", None)
        if not name:
            raise PlanError(f"A check table needs a name, e.g. {{name = \"regex\", pattern = \"...\"}}; got {spec!r}.")
    else:
        raise PlanError(f"A check is a name or a table, not {spec!r}.")
    cls = CHECKS.get(name)
    if cls is None:
        raise PlanError(f"Unknown check {name!r}. Known checks: {', '.join(sorted(CHECKS))}.")
    merged = {k: v for k, v in defaults.items() if k in cls.params}
    merged.update(params)
    return cls(**merged)


# --------------------------------------------------------------------------------------------------------------
# JSON


def _parse_json(case: Case, strict: bool | None) -> tuple[Any, Verdict | None]:
    strict = _requested_json(case.params) if strict is None else strict
    payload, had_prose = strip_fences(case.local or "", prefer=("json",))
    if strict and had_prose:
        return None, Verdict.fail("JSON was requested but the answer has text around the JSON")
    try:
        return json.loads(payload), None
    except ValueError as exc:
        msg = getattr(exc, "msg", str(exc))
        where = f" (line {exc.lineno} column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        return None, Verdict.fail(f"not valid JSON: {msg}{where}")


@register
class JsonValid(Check):
    name = "json_valid"
    params = {"strict": None}
    strict: bool | None
    description = "The answer is valid JSON after stripping code fences (strict: no text around it)."

    def check(self, case):
        value, failure = _parse_json(case, self.strict)
        if failure:
            return failure
        kind = type(value).__name__.replace("dict", "object").replace("list", "array")
        return Verdict.ok(f"valid JSON {kind}")


def json_shape(value: Any) -> dict:
    if isinstance(value, dict):
        return {"type": "object", "keys": {k: json_shape(v) for k, v in value.items()}, "required": set(value)}
    if isinstance(value, list):
        items = None
        for v in value:
            items = json_shape(v) if items is None else _merge_shapes(items, json_shape(v))
        return {"type": "array", "items": items}
    if isinstance(value, bool):
        return {"type": "boolean"}
    if isinstance(value, (int, float)):
        return {"type": "number"}
    if isinstance(value, str):
        return {"type": "string"}
    return {"type": "null"}


def _merge_shapes(a: dict, b: dict) -> dict:
    if a["type"] == "null":
        return b
    if b["type"] == "null" or a["type"] != b["type"]:
        return a if b["type"] == "null" else {"type": "any"}
    if a["type"] == "object":
        keys = dict(a["keys"])
        for k, v in b["keys"].items():
            keys[k] = _merge_shapes(keys[k], v) if k in keys else v
        return {"type": "object", "keys": keys, "required": a["required"] & b["required"]}
    if a["type"] == "array":
        if a["items"] is None or b["items"] is None:
            return a if b["items"] is None else b
        return {"type": "array", "items": _merge_shapes(a["items"], b["items"])}
    return a


def shape_problems(expected: dict, got: Any, path: str = "$") -> tuple[list[str], int]:
    """Differences between the frontier answer's shape and a value: (problems, paths compared).
    null on either side matches any type: an absent value is not a different type."""
    if expected["type"] in ("null", "any") or got is None:
        return [], 1
    actual = json_shape(got)["type"]
    if actual != expected["type"]:
        return [f"{path}: expected {expected['type']}, got {actual}"], 1
    problems, compared = [], 1
    if expected["type"] == "object":
        for key in sorted(expected["required"] - set(got)):
            problems.append(f"missing key {path}.{key}")
            compared += 1
        for key in sorted(set(got) - set(expected["keys"])):
            problems.append(f"extra key {path}.{key}")
            compared += 1
        for key, sub in expected["keys"].items():
            if key in got:
                p, c = shape_problems(sub, got[key], f"{path}.{key}")
                problems += p
                compared += c
    elif expected["type"] == "array" and expected["items"] is not None:
        for i, item in enumerate(got):
            p, c = shape_problems(expected["items"], item, f"{path}[{i}]")
            problems += p
            compared += c
    return problems, compared


@register
class JsonSchemaMatch(Check):
    name = "json_schema_match"
    params = {"schema": None, "strict": None}
    schema: Any  # a JSON Schema (a table in plan.toml) or the path of a file holding one
    strict: bool | None
    description = ("The JSON has the frontier answer's keys and types, or validates against a JSON Schema "
                   "(the `schema` file given in plan.toml, else the one the request asked for in response_format).")

    def __init__(self, when=None, **params):
        super().__init__(when, **params)
        self._schema = None
        if isinstance(self.schema, dict):
            self._schema = self.schema
        elif self.schema:
            path = Path(str(self.schema)).expanduser()
            try:
                self._schema = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise PlanError(f"JSON Schema file {path} cannot be read ({exc.strerror}); fix `schema` in plan.toml.") from exc
            except ValueError as exc:
                raise PlanError(f"JSON Schema file {path} is not valid JSON: {exc}.") from exc
            from jsonschema import validators
            from jsonschema.exceptions import SchemaError

            try:
                validators.validator_for(self._schema).check_schema(self._schema)
            except SchemaError as exc:
                raise PlanError(f"{path} is not a valid JSON Schema: {exc.message}.") from exc
        self.needs_frontier = self._schema is None

    def applies(self, case):
        if self.when and detect_form(case.frontier) != self.when:
            return Verdict.skip(f"frontier answer is not {self.when}")
        if self._schema is None and requested_schema(case.params) is None and not (case.frontier or "").strip():
            return Verdict.skip("no schema and no frontier answer to compare with")
        return None

    defer_invalid = False  # set by judge when json_valid runs too, so invalid JSON is one failure, not two

    def check(self, case):
        value, failure = _parse_json(case, self.strict)
        if failure:
            return Verdict.skip("not valid JSON (json_valid reports it)") if self.defer_invalid else failure
        schema = self._schema or requested_schema(case.params)
        if schema is not None:
            from jsonschema import validators
            from jsonschema.exceptions import best_match

            validator = validators.validator_for(schema)(schema)
            errors = list(validator.iter_errors(value))
            if not errors:
                return Verdict.ok("matches the JSON Schema")
            err = best_match(errors)
            where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            return Verdict.fail(f"schema: {where}: {_clean_message(err.message)}{more}", 0.0)
        try:
            reference = json.loads(strip_fences(case.frontier, prefer=("json",))[0])
        except ValueError:
            return Verdict.skip("frontier answer is not JSON, so it gives no shape to match")
        problems, compared = shape_problems(json_shape(reference), value)
        score = max(0.0, 1 - len(problems) / max(compared, 1))
        if not problems:
            return Verdict.ok("same keys and types as the frontier answer", 1.0)
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        return Verdict.fail("shape differs: " + "; ".join(problems[:3]) + more, round(score, 4))


# --------------------------------------------------------------------------------------------------------------
# SQL

_DIALECT_HINTS = [  # (pattern in the prompt, sqlglot dialect); first match wins
    (r"\bpostgres(?:ql)?\b|\bpsql\b|\bsupabase\b|\bredshift\b", "postgres"),
    (r"\bmysql\b|\bmariadb\b", "mysql"),
    (r"\bsqlite\b", "sqlite"),
    (r"\bt-?sql\b|\bsql server\b|\bmssql\b|\bazure sql\b", "tsql"),
    (r"\bbigquery\b", "bigquery"),
    (r"\bsnowflake\b", "snowflake"),
    (r"\bduckdb\b", "duckdb"),
    (r"\boracle\b|\bpl/?sql\b", "oracle"),
    (r"\bclickhouse\b", "clickhouse"),
    (r"\bdatabricks\b", "databricks"),
    (r"\bspark\s*sql\b|\bspark\b", "spark"),
    (r"\bhive\b", "hive"),
    (r"\btrino\b", "trino"),
    (r"\bpresto\b|\bathena\b", "presto"),
]
_FENCE_DIALECTS = {"postgres": "postgres", "postgresql": "postgres", "psql": "postgres", "mysql": "mysql",
                   "sqlite": "sqlite", "tsql": "tsql", "plsql": "oracle", "bigquery": "bigquery",
                   "snowflake": "snowflake"}


def infer_dialect(case: Case) -> str | None:
    """The SQL dialect the request was about: named in the system prompt or prompt, or in a fence tag."""
    text = " ".join(t for t in (case.system_prompt, case.prompt) if t)
    for pattern, dialect in _DIALECT_HINTS:
        if re.search(pattern, text, re.I):
            return dialect
    for answer in (case.frontier, case.local):
        for tag, _ in code_blocks(answer or ""):
            if tag in _FENCE_DIALECTS:
                return _FENCE_DIALECTS[tag]
    return None


def _sql_statements(sql: str, dialect: str | None) -> tuple[bool, str]:
    import sqlglot
    from sqlglot.errors import ErrorLevel

    try:
        statements = [s for s in sqlglot.parse(sql, read=dialect, error_level=ErrorLevel.RAISE) if s is not None]
    except Exception as exc:  # ParseError, TokenError, or an unknown dialect
        return False, _clean_message(exc)
    if not statements:
        return False, "no SQL statement"
    for s in statements:
        if type(s).__name__ not in _SQL_STATEMENTS:
            return False, f"not a SQL statement (parsed as {type(s).__name__.lower()})"
    return True, f"{len(statements)} statement{'s' if len(statements) > 1 else ''}"


@register
class SqlParses(Check):
    name = "sql_parses"
    params = {"dialect": None}
    dialect: str | None
    description = "The SQL parses with sqlglot in the configured dialect, else the one the prompt names."

    def check(self, case):
        dialect = self.dialect or infer_dialect(case)
        sql, _ = strip_fences(case.local or "", prefer=("sql", *_FENCE_DIALECTS))
        where = dialect or "generic SQL"
        if not _SQL_START.match(sql):
            return Verdict.fail(f"no SQL statement: the answer starts with {_short(sql, 40)}")
        ok, detail = _sql_statements(sql, dialect)
        if ok:
            return Verdict.ok(f"parses as {where}: {detail}")
        return Verdict.fail(f"does not parse as {where}: {detail}")


# --------------------------------------------------------------------------------------------------------------
# SVG

_RENDER_PX = 256


def _leading_number(text: str) -> float:
    """``"240px"`` -> 240.0; ValueError when the text does not start with a number."""
    found = re.match(r"[\d.]+", text)
    if found is None:
        raise ValueError(f"not a length: {text!r}")
    return float(found.group())


def _svg_aspect(root) -> float:
    vb = root.get("viewBox") or root.get("viewbox")
    try:
        if vb:
            _, _, w, h = (float(x) for x in re.split(r"[\s,]+", vb.strip()))
        else:
            w, h = _leading_number(root.get("width", "100")), _leading_number(root.get("height", "100"))
        return h / w if w > 0 and h > 0 else 1.0
    except (ValueError, AttributeError, TypeError):
        return 1.0


def render_svg(svg: str, aspect: float = 1.0):
    """RGBA pixels (numpy array) of an SVG rendered to fit 256 px, by resvg, or cairosvg when resvg is missing."""
    import io

    import numpy as np
    from PIL import Image

    width, height = (_RENDER_PX, None) if aspect <= 1 else (None, _RENDER_PX)
    try:
        import resvg_py
    except ImportError:
        import cairosvg

        png = cairosvg.svg2png(bytestring=svg.encode("utf-8"), unsafe=False, output_width=width, output_height=height)
    else:
        png = bytes(resvg_py.svg_to_bytes(svg_string=svg, width=width, height=height))
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGBA"))


def non_background_share(pixels) -> float:
    """Share of pixels that differ from the most common colour (the background, transparent or painted)."""
    import numpy as np

    flat = pixels.reshape(-1, 4).astype(np.int16)
    if flat.size == 0:
        return 0.0
    packed = (flat[:, 0].astype(np.int64) << 24) | (flat[:, 1] << 16) | (flat[:, 2] << 8) | flat[:, 3]
    values, counts = np.unique(packed, return_counts=True)
    background = flat[np.flatnonzero(packed == values[counts.argmax()])[0]]
    # Anti-aliasing leaves faint pixels; a pixel counts when it differs visibly.
    visible_alpha = (flat[:, 3] > 8) | (background[3] > 8)
    differs = (np.abs(flat - background).max(axis=1) > 8) & visible_alpha
    return float(differs.mean())


@register
class SvgRenders(Check):
    name = "svg_renders"
    params = {"min_ink": 0.001}
    min_ink: float
    description = "The SVG is well-formed XML and renders (resvg) to an image with visible content."

    def check(self, case):
        import xml.etree.ElementTree as ET

        body, _ = strip_fences(case.local or "", prefer=("svg", "xml", "html"))
        m = re.search(r"<svg[\s>].*?</svg\s*>", body, re.I | re.S)
        if m:
            svg = m.group(0)
        elif "<svg" in body.lower():
            svg = body[body.lower().index("<svg"):]
        else:
            return Verdict.fail("no <svg> element in the answer")
        if "<!entity" in svg.lower():
            return Verdict.fail("SVG declares XML entities; refused")
        try:
            root = ET.fromstring(svg)
        except ET.ParseError as exc:
            line, col = exc.position
            return Verdict.fail(f"SVG is not well-formed XML: {_clean_message(str(exc).split(':')[0])} (line {line} column {col})")
        if not root.tag.lower().endswith("svg"):
            return Verdict.fail(f"root element is <{root.tag}>, not <svg>")
        try:
            pixels = render_svg(svg, _svg_aspect(root))
        except Exception as exc:
            return Verdict.fail(f"SVG does not render: {_clean_message(exc)}")
        ink = non_background_share(pixels)
        h, w = pixels.shape[:2]
        if ink < self.min_ink:
            return Verdict.fail(f"renders blank ({w}x{h} px, {ink:.2%} of pixels drawn)", round(ink, 4))
        return Verdict.ok(f"renders {w}x{h} px, {ink:.1%} of pixels drawn", round(ink, 4))


# --------------------------------------------------------------------------------------------------------------
# Code

_LANGUAGE_ALIASES = {
    "python": "python", "py": "python", "python3": "python", "py3": "python",
    "javascript": "javascript", "js": "javascript", "node": "javascript", "jsx": None, "mjs": "javascript",
    "cjs": "javascript", "typescript": None, "ts": None, "tsx": None,
    "bash": "bash", "sh": "bash", "shell": "bash", "zsh": None, "console": None,
    "c": "c", "h": "c", "cpp": "cpp", "c++": "cpp", "cc": "cpp", "hpp": "cpp", "cxx": "cpp",
    "json": "json", "yaml": "yaml", "yml": "yaml", "toml": "toml", "xml": "xml", "svg": "xml", "html": None,
    "sql": "sql", "java": None, "go": None, "golang": None, "rust": None, "rs": None, "ruby": None, "rb": None,
    "php": None, "kotlin": None, "swift": None, "csharp": None, "cs": None, "c#": None, "scala": None, "r": None,
}


def _python_error(src: str) -> str | None:
    try:
        compile(src, "<answer>", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg} (line {exc.lineno})"
    except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return f"{type(exc).__name__}: {_clean_message(exc)}"
    return None


def _run_parser(argv: list[str], src: str, suffix: str) -> tuple[str | None, str | None]:
    """(error, None) or (None, None) when it parses; (None, why) when the parser is missing."""
    if shutil.which(argv[0]) is None:
        return None, f"{argv[0]} is not installed"
    with tempfile.TemporaryDirectory(prefix="plan-check-") as tmp:
        path = Path(tmp) / f"answer{suffix}"
        path.write_text(src, encoding="utf-8")
        try:
            proc = subprocess.run([*argv, str(path)], capture_output=True, text=True, timeout=30, cwd=tmp)
        except subprocess.TimeoutExpired:
            return "parser timed out after 30 s", None
        if proc.returncode == 0:
            return None, None
        out = (proc.stderr or proc.stdout).replace(str(path), "answer" + suffix)
        lines = [ln for ln in out.splitlines() if ln.strip()]
        error = next((ln for ln in lines if re.search(r"error|SyntaxError", ln, re.I)), lines[0] if lines else "failed")
        if re.search(r"fatal error: .*: No such file", error):
            return None, f"cannot check: {_clean_message(error.split('fatal error:')[-1])}"
        return _clean_message(error), None


def syntax_error(language: str, src: str) -> tuple[str | None, str | None]:
    """Parse ``src`` as ``language``: (error or None, reason it could not be checked or None)."""
    if language == "python":
        return _python_error(src), None
    if language == "json":
        try:
            json.loads(src)
            return None, None
        except ValueError as exc:
            return f"JSON: {exc}", None
    if language == "yaml":
        import yaml

        try:
            list(yaml.safe_load_all(src))
            return None, None
        except yaml.YAMLError as exc:
            return _clean_message(f"YAML: {exc}"), None
    if language == "toml":
        import tomllib

        try:
            tomllib.loads(src)
            return None, None
        except tomllib.TOMLDecodeError as exc:
            return f"TOML: {exc}", None
    if language == "xml":
        import xml.etree.ElementTree as ET

        if "<!entity" in src.lower():
            return "XML declares entities; refused", None
        try:
            ET.fromstring(src)
            return None, None
        except ET.ParseError as exc:
            return f"XML: {exc}", None
    if language == "sql":
        ok, detail = _sql_statements(src, None)
        return (None if ok else f"SQL: {detail}"), None
    if language == "javascript":
        module = re.search(r"^\s*(import\s[\w{*]|import\s*['\"]|export\s)", src, re.M)
        return _run_parser(["node", "--check"], src, ".mjs" if module else ".js")
    if language == "bash":
        return _run_parser(["bash", "-n"], src, ".sh")
    if language == "c":
        return _run_parser(["gcc", "-fsyntax-only", "-x", "c", "-w"], src, ".c")
    if language == "cpp":
        return _run_parser(["g++", "-fsyntax-only", "-x", "c++", "-w"], src, ".cpp")
    return None, f"no parser for {language} here"


def _guess_language(code: str) -> str | None:
    if _python_error(code) is None and re.search(r"^\s*(def |class |import |from \S+ import |print\()", code, re.M):
        return "python"
    if re.search(r"\b(function\s+\w+\s*\(|const \w+\s*=|let \w+\s*=|=>|console\.log)", code):
        return "javascript"
    if re.search(r"#include\s*<", code):
        return "cpp" if re.search(r"\bstd::|#include\s*<(iostream|vector|string)>", code) else "c"
    if code.startswith("#!/bin/") or re.match(r"\s*(set -e|echo |for \w+ in )", code):
        return "bash"
    return "python" if _python_error(code) is None else None


@register
class CodeCompiles(Check):
    name = "code_compiles"
    params = {"language": None}
    language: str | None  # as plan.toml gives it (Check.__init__ sets every parameter)
    description = ("Every code block parses: Python with compile(), JavaScript with node --check, shell with bash -n, "
                   "C/C++ with gcc -fsyntax-only, JSON/YAML/TOML/XML/SQL with their parsers.")

    def _language_of(self, tag: str, case: Case, code: str) -> str | None:
        if self.language:
            return _LANGUAGE_ALIASES.get(str(self.language).lower(), str(self.language).lower())
        if tag:
            return _LANGUAGE_ALIASES.get(tag, tag)
        frontier_tags = [t for t, _ in code_blocks(case.frontier or "") if t]
        if frontier_tags:
            return _LANGUAGE_ALIASES.get(frontier_tags[0], frontier_tags[0])
        return _guess_language(code)

    def check(self, case):
        text = (case.local or "").strip()
        fenced = code_blocks(text)
        blocks = fenced or [("", text)]
        any_tagged = any(tag for tag, _ in blocks)
        checked, skipped = [], []
        for tag, code in blocks:
            if not code.strip() or re.match(r"\s*(>>>|\$ |In \[\d+\]:)", code):
                continue  # sessions and shell transcripts are examples, not the deliverable
            if tag in ("text", "output", "console", "plaintext", "diff") or (not tag and any_tagged and not self.language):
                continue
            language = self._language_of(tag, case, code)
            if language is None:
                if not fenced:
                    return Verdict.fail("no code block, and the text does not parse as code")
                skipped.append(f"no parser for {tag or 'untagged code'}")
                continue
            error, why_not = syntax_error(language, code)
            if why_not:
                skipped.append(why_not)
            elif error:
                hint = "" if code_blocks(text) else " (the answer has no code block; the whole text was parsed)"
                return Verdict.fail(f"{language}: {error}{hint}")
            else:
                checked.append(language)
        if checked:
            return Verdict.ok(f"{len(checked)} block{'s' if len(checked) > 1 else ''} parse ({', '.join(sorted(set(checked)))})")
        if skipped:
            return Verdict.skip("; ".join(sorted(set(skipped))))
        return Verdict.fail("no code found in the answer")


# --------------------------------------------------------------------------------------------------------------
# Labels

_LABEL_PREFIX = re.compile(
    r"^(?:the\s+)?(?:final\s+)?(?:label|category|class|classification|intent|answer|sentiment|tags?|topic|"
    r"priority|department|queue|route)\s*(?:is)?\s*[:=\-]?\s+", re.I)
_QUOTES = "\"'`“”‘’„«»‹›"


def normalise_label(text: str | None) -> str:
    """Case, punctuation, quotes and whitespace do not change a label: '"Billing."' == 'billing'."""
    t = unicodedata.normalize("NFKC", text or "")
    t, _ = strip_fences(t)
    t = t.strip().strip(_QUOTES).strip()
    t = _LABEL_PREFIX.sub("", t)
    t = t.casefold()
    t = re.sub(f"[{re.escape(_QUOTES)}]", "", t)
    t = re.sub(r"[_\-/]+", " ", t)
    t = re.sub(r"[^\w\s,;|\n]", " ", t)
    t = re.sub(r"[ \t]+", " ", t)
    return re.sub(r"\s*\n\s*", "\n", t).strip(" \n,;|")


def label_set(text: str | None) -> set[str]:
    return {part.strip() for part in re.split(r"[,;|\n]", normalise_label(text)) if part.strip()}


def _json_labels(text: str | None) -> Any:
    body, _ = strip_fences(text or "", prefer=("json",))
    if body[:1] not in "[{\"":
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _canonical_labels(value: Any) -> Any:
    if isinstance(value, dict):
        return {normalise_label(str(k)): _canonical_labels(v) for k, v in value.items()}
    if isinstance(value, list):
        return frozenset(json.dumps(_canonical_labels(v), sort_keys=True, default=sorted) for v in value)
    if isinstance(value, str):
        return normalise_label(value)
    return value


@register
class LabelMatch(Check):
    name = "label_match"
    needs_frontier = True
    params = {}
    description = ("The local label equals the frontier label after normalising case, punctuation, quotes, "
                   "whitespace and a 'Label:' prefix; multi-label answers compare as sets; JSON compares by value.")

    def check(self, case):
        ref_json, got_json = _json_labels(case.frontier), _json_labels(case.local)
        if ref_json is not None and got_json is not None:
            same = _canonical_labels(ref_json) == _canonical_labels(got_json)
            return Verdict.ok("same labels (JSON)") if same else Verdict.fail(
                f"labels differ: {_short(case.local)} vs frontier {_short(case.frontier)}")
        ref, got = label_set(case.frontier), label_set(case.local)
        if not got:
            return Verdict.fail("no label in the answer")
        if ref == got:
            return Verdict.ok(f"same label: {_short(normalise_label(case.local))}")
        union = ref | got
        score = len(ref & got) / len(union) if union else 0.0
        return Verdict.fail(f"label {_short(normalise_label(case.local))} vs frontier {_short(normalise_label(case.frontier))}",
                            round(score, 4))


def _short(text: str | None, limit: int = 60) -> str:
    text = re.sub(r"\s+", " ", text or "").strip()
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


# --------------------------------------------------------------------------------------------------------------
# Plain-text constraints


@register
class Regex(Check):
    name = "regex"
    params = {"pattern": None, "flags": "", "full": False, "negate": False}
    pattern: str | None
    flags: str
    full: bool
    negate: bool
    description = "The answer matches a regular expression (full=true: the whole answer; negate=true: must not match)."

    def __init__(self, when=None, **params):
        super().__init__(when, **params)
        if not self.pattern:
            raise PlanError('The regex check needs a pattern, e.g. checks = [{name = "regex", pattern = "^(yes|no)$"}].')
        flags = 0
        for letter in str(self.flags or "").lower():
            flags |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}.get(letter, 0)
        try:
            self._re = re.compile(self.pattern, flags)
        except re.error as exc:
            raise PlanError(f"regex pattern {self.pattern!r} is invalid: {exc}.") from exc

    def check(self, case):
        text = (case.local or "").strip()
        matched = bool(self._re.fullmatch(text) if self.full else self._re.search(text))
        if self.negate:
            return Verdict.fail(f"matches forbidden pattern {self.pattern!r}") if matched else Verdict.ok(f"does not match {self.pattern!r}")
        return Verdict.ok(f"matches {self.pattern!r}") if matched else Verdict.fail(f"does not match {self.pattern!r}")


@register
class Contains(Check):
    name = "contains"
    params = {"text": None, "case_sensitive": False, "any": False, "negate": False}
    text: str | list[str] | None
    case_sensitive: bool
    any: bool
    negate: bool
    description = "The answer contains the text (a list: all of them, or any with any=true; negate=true: none)."

    def __init__(self, when=None, **params):
        super().__init__(when, **params)
        if not self.text:
            raise PlanError('The contains check needs text, e.g. checks = [{name = "contains", text = "Total:"}].')
        self._needles = [self.text] if isinstance(self.text, str) else [str(t) for t in self.text]

    def check(self, case):
        hay = case.local or ""
        fold = (lambda s: s) if self.case_sensitive else str.casefold
        found = [n for n in self._needles if fold(n) in fold(hay)]
        missing = [n for n in self._needles if n not in found]
        score = len(found) / len(self._needles)
        if self.negate:
            return Verdict.fail(f"contains forbidden {found[0]!r}", 1 - score) if found else Verdict.ok("contains none of the forbidden text", 1.0)
        if (self.any and found) or not missing:
            return Verdict.ok(f"contains {', '.join(repr(f) for f in found)}", score)
        return Verdict.fail(f"missing {', '.join(repr(m) for m in missing)}", score)


@register
class MaxLength(Check):
    name = "max_length"
    evidence = "constraint"
    params = {"chars": None, "words": None, "ratio": None}
    chars: int | None
    words: int | None
    ratio: float | None
    description = "The answer is at most `chars` characters, `words` words, or `ratio` times the frontier answer's length."

    def __init__(self, when=None, **params):
        super().__init__(when, **params)
        if self.chars is None and self.words is None and self.ratio is None:
            raise PlanError('max_length needs chars, words or ratio, e.g. checks = [{name = "max_length", chars = 280}].')

    def applies(self, case):
        if self.ratio is not None and not (case.frontier or "").strip():
            return Verdict.skip("no frontier answer to compare the length with")
        return super().applies(case)

    @property
    def runtime(self):
        return self.ratio is None

    def check(self, case):
        text = (case.local or "").strip()
        limits = []
        if self.chars is not None:
            limits.append(("characters", len(text), int(self.chars)))
        if self.words is not None:
            limits.append(("words", len(text.split()), int(self.words)))
        if self.ratio is not None:
            ref = len((case.frontier or "").strip())
            limits.append(("characters", len(text), max(1, math.ceil(float(self.ratio) * ref))))
        for unit, size, limit in limits:
            if size > limit:
                return Verdict.fail(f"{size:,} {unit} > limit {limit:,}", round(limit / size, 4))
        unit, size, limit = limits[0]
        return Verdict.ok(f"{size:,} {unit} within {limit:,}", 1.0)


# --------------------------------------------------------------------------------------------------------------
# Similarity

# Calibrated with benchmarks/judge_similarity_calibration.py (all-MiniLM-L6-v2, MT-Bench): against GPT-4's
# reference answers, first-turn answers to the same question by a real local model (SmolLM2-135M) keep cosine
# >= 0.5 in 90% of cases, while GPT-4's answers to *other* questions of the same category fall below 0.5 in 97%
# (p95 0.42, p99 0.56) and of other categories in 100%. So the check tells an answer to the question from an
# answer about something else; it does not grade correctness (that is what the objective checks and llm_judge
# are for). Short answers compared with long ones score low (a one-line human reference keeps 0.5 in only
# about half the cases): prefer label_match or regex for short outputs. And it accepts wrong answers that reuse
# the frontier's words (benchmarks/similarity_false_accepts.py): shuffled words 100%, an answer cut in half 98%,
# every number changed 100%, a refusal restating the question 68%. So it never decides a category on its own.
DEFAULT_SIMILARITY_THRESHOLD = 0.5


class _EmbeddingCache:
    def __init__(self, embedder_name: str | None):
        self.embedder_name = embedder_name
        self._embedder: Embedder | None = None
        self.vectors: dict[str, Any] = {}

    def encode(self, texts: list[str]) -> None:
        todo = sorted({t for t in texts if t not in self.vectors})
        if not todo:
            return
        if self._embedder is None:
            from .embedders import get_embedder

            self._embedder = get_embedder(self.embedder_name)
        vectors = self._embedder.encode(todo)
        for text, vec in zip(todo, vectors, strict=True):
            self.vectors[text] = vec

    def cosine(self, a: str, b: str) -> float:
        import numpy as np

        self.encode([a, b])
        va, vb = self.vectors[a], self.vectors[b]
        denom = float(np.linalg.norm(va) * np.linalg.norm(vb)) or 1.0
        return float(np.dot(va, vb) / denom)


@register
class Similarity(Check):
    name = "similarity"
    objective = False
    evidence = "similarity"
    needs_frontier = True
    params = {"threshold": DEFAULT_SIMILARITY_THRESHOLD, "embedder": None}
    threshold: float
    embedder: str | None
    description = (f"Embedding cosine to the frontier answer is at least the threshold (default "
                   f"{DEFAULT_SIMILARITY_THRESHOLD}, calibrated on MT-Bench: it separates answers to the question "
                   "from answers to other questions; it does not grade correctness).")

    def __init__(self, when=None, **params):
        super().__init__(when, **params)
        self.threshold = float(self.threshold)
        self._cache = _EmbeddingCache(self.embedder)

    def prepare(self, cases):
        texts = []
        for c in cases:
            if (c.local or "").strip() and (c.frontier or "").strip():
                texts += [c.local.strip(), c.frontier.strip()]
        if texts:
            self._cache.encode(texts)

    def check(self, case):
        score = round(self._cache.cosine(case.local.strip(), case.frontier.strip()), 4)
        if score >= self.threshold:
            return Verdict.ok(f"cosine {score:.2f} ≥ {self.threshold:.2f}", score)
        return Verdict.fail(f"cosine {score:.2f} < {self.threshold:.2f}", score)


# --------------------------------------------------------------------------------------------------------------
# LLM judge

DEFAULT_RUBRIC = (
    "Judge which answer better serves the user's request: correct, complete, following every instruction and "
    "format the request sets, and no longer than it needs to be. Style and wording do not matter when both "
    "answers would satisfy the user equally."
)
_JUDGE_SYSTEM = (
    "You are an impartial judge comparing two answers to the same request. {rubric}\n"
    "Do not let the order of the answers, their length or the names used influence you. Think briefly, then end "
    "with exactly one verdict on its own line: [[A]] if answer A is better, [[B]] if answer B is better, or "
    "[[C]] if they are about equally good (both acceptable, or both unacceptable)."
)
_PART_LIMIT = 12_000


def _clip(text: str, limit: int = _PART_LIMIT) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit // 2] + "\n[… middle omitted …]\n" + text[-limit // 2:]


def _request_text(case: Case) -> str:
    if case.messages:
        lines = []
        for m in case.messages:
            if not isinstance(m, dict):
                continue
            content = m.get("content")
            if isinstance(content, list):
                content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            lines.append(f"[{m.get('role', 'user')}]\n{content or ''}")
        if lines:
            return _clip("\n\n".join(lines))
    parts = [f"[system]\n{case.system_prompt}"] if case.system_prompt else []
    parts.append(f"[user]\n{case.prompt}")
    return _clip("\n\n".join(parts))


def judge_messages(case: Case, answer_a: str, answer_b: str, rubric: str) -> list[dict]:
    user = (f"<request>\n{_request_text(case)}\n</request>\n\n<answer_a>\n{_clip(answer_a)}\n</answer_a>\n\n"
            f"<answer_b>\n{_clip(answer_b)}\n</answer_b>\n\nWhich answer is better? End with [[A]], [[B]] or [[C]].")
    return [{"role": "system", "content": _JUDGE_SYSTEM.format(rubric=rubric.strip())},
            {"role": "user", "content": user}]


def parse_judge_verdict(text: str) -> str | None:
    """'A', 'B' or 'C' (tie) from the judge's reply: the last [[X]], else a final 'Verdict: X'."""
    found = re.findall(r"\[\[\s*([ABC])\s*\]\]", text or "")
    if found:
        return found[-1]
    m = re.search(r"(?:verdict|answer|winner)\s*(?:is)?\s*[:\-]?\s*\**\s*\(?([ABC])\)?\**\s*\.?\s*$", (text or "").strip(), re.I)
    if m:
        return m.group(1).upper()
    if re.search(r"\b(tie|equally good)\b", (text or "")[-200:], re.I):
        return "C"
    return None


@register
class LlmJudge(Check):
    name = "llm_judge"
    objective = False
    evidence = "llm_judge"
    needs_frontier = True
    params = {"endpoint": None, "model": None, "rubric": DEFAULT_RUBRIC, "allow_remote": False, "concurrency": 2,
              "timeout_s": 300.0, "max_tokens": 2048, "min_score": 0.5}
    # The parameters, as plan.toml or the flags give them: Check.__init__ sets each one on the instance (so do the
    # annotations on the other checks); the numbers are converted where used.
    endpoint: str | None
    model: str | None
    rubric: str
    allow_remote: bool
    concurrency: int
    timeout_s: float
    max_tokens: int | float | str
    min_score: float | str
    description = ("A judge model compares the local and frontier answers with a rubric, in both orders to cancel "
                   "position bias; the local answer passes when it is at least as good on average (score >= 0.5).")

    def __init__(self, when=None, **params):
        super().__init__(when, **params)
        if not self.endpoint or not self.model:
            raise PlanError("llm_judge needs a judge endpoint and model: pass --judge-endpoint and --judge-model.")
        from .endpoints import ensure_local, normalize_endpoint

        self._url = ensure_local(normalize_endpoint(str(self.endpoint)), allow_remote=bool(self.allow_remote))
        self._results: dict[tuple, Verdict] = {}

    def describe(self):
        out = super().describe()
        out.pop("allow_remote", None)
        out["model"] = self.model
        return out

    @staticmethod
    def _key(case: Case) -> tuple:
        return (case.replay_id, case.prompt, case.local, case.frontier)

    def _call_params(self) -> dict:
        return {"temperature": 0, "max_tokens": int(self.max_tokens)}

    def _verdict(self, replies: list[str | None], errors: list[str]) -> Verdict:
        # Points for the local answer in each order: order 1 shows it as B, order 2 as A.
        points = []
        for position, reply in zip(("B", "A"), replies, strict=False):
            choice = parse_judge_verdict(reply) if reply is not None else None
            if choice is not None:
                points.append(0.5 if choice == "C" else float(choice == position))
        if not points:
            why = "; ".join(errors) if errors else "the judge gave no [[A]]/[[B]]/[[C]] verdict"
            return Verdict.skip(f"no judge verdict: {why}")
        score = sum(points) / len(points)
        detail = " / ".join({1.0: "local better", 0.5: "tie", 0.0: "frontier better"}[p] for p in points)
        reason = f"judge: {detail} (score {score:.2f})"
        if len(points) < 2:
            reason += "; one order gave no verdict"
        return Verdict(score >= float(self.min_score), round(score, 4), reason)

    def prepare(self, cases):
        import asyncio

        todo = [c for c in cases if self._key(c) not in self._results and (c.local or "").strip()]
        if not todo:
            return

        async def run_all():
            import httpx

            from .llm_client import achat, LLMError

            limit = asyncio.Semaphore(max(1, int(self.concurrency)))
            timeout = float(self.timeout_s)
            async with httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=10.0), trust_env=False) as client:
                async def one(messages):
                    async with limit:
                        try:
                            result = await achat(self._url, str(self.model), messages, params=self._call_params(),
                                                 timeout=timeout, client=client)
                            return result.text, None
                        except LLMError as exc:
                            if exc.fatal:
                                raise
                            return None, str(exc)

                async def both(case):
                    first = judge_messages(case, case.frontier, case.local, self.rubric)
                    second = judge_messages(case, case.local, case.frontier, self.rubric)
                    (r1, e1), (r2, e2) = await asyncio.gather(one(first), one(second))
                    self._results[self._key(case)] = self._verdict([r1, r2], [e for e in (e1, e2) if e])

                await asyncio.gather(*(both(c) for c in todo))

        def runner():
            asyncio.run(run_all())

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            runner()
        else:  # inside Jupyter's loop: run in a thread with its own loop
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=1) as pool:
                pool.submit(runner).result()

    def check(self, case):
        key = self._key(case)
        if key not in self._results:
            self.prepare([case])
        return self._results[key]

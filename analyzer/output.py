"""The output gate: every text `plan` prints or writes for people passes through here.

``gate`` takes a string or a JSON-like value (what a command prints with --json, the report context, the rows
of a review sheet, a notebook frame) and returns the same shape with

1. every secret and piece of personal data replaced by a typed placeholder (``analyzer.redact``; the whole
   value is one document, so a value recognised in one place is removed everywhere in it);
2. terminal control characters and escape sequences removed (a model name such as ``\\x1b]0;pwned\\x07`` would
   otherwise retitle or repaint the reader's terminal), with bidirectional overrides that reorder what is read;
3. very long strings cut, saying how much was left out.

The CLI prints only through ``echo``, ``say`` and ``emit_json``. ``redact=False`` (``--no-redact``) is for local
files only: nothing printed to a terminal or sent by mail is ever unredacted, so these functions have no such
switch.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Iterable

from .redact import redact_many, redact_tree

# ESC-introduced sequences (CSI, OSC, DCS/SOS/PM/APC strings, two-byte escapes), their 8-bit C1 forms, then any
# control character left (tab and newline are kept), and the Unicode bidirectional controls.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[PX^_][^\x1b]*(?:\x1b\\)?|\x1b[ -/]*[0-~]?|"
    r"\x9b[0-?]*[ -/]*[@-~]|\x9d[^\x07\x9c]*[\x07\x9c]?"
)
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]")
TERMINAL_VALUE_CHARS = 2_000  # one printed line at most (a prompt pasted into a model name, say)
JSON_VALUE_CHARS = 20_000  # one string in --json at most


def strip_controls(text: str) -> str:
    """Remove escape sequences and control characters (keeps tab and newline)."""
    if not text:
        return text
    if "\x1b" in text or "\x9b" in text or "\x9d" in text:
        text = _ESCAPES.sub("", text)
    return _CONTROLS.sub("", text)


def cut(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + f"… [{len(text) - limit:,} more characters cut]"


def clean(value: Any, limit: int | None = TERMINAL_VALUE_CHARS, *, keep: Iterable[str] = ()) -> str:
    """One value, safe to show: redacted, without control characters, cut to ``limit``."""
    text = "" if value is None else str(value)
    return cut(strip_controls(_redact_keeping([text], keep)[0] or ""), limit)


def gate(value: Any, *, redact: bool = True, limit: int | None = JSON_VALUE_CHARS) -> Any:
    """The same value with every string redacted (as one document), stripped of control characters and cut."""
    if redact:
        value = redact_tree(value)
    return _finish(value, limit)


def _finish(value: Any, limit: int | None) -> Any:
    if isinstance(value, str):
        return cut(strip_controls(value), limit)
    if isinstance(value, dict):
        return {(_finish(k, limit) if isinstance(k, str) else k): _finish(v, limit) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_finish(v, limit) for v in value)
    return value


_TYPED: list[str] = []  # what the user typed on this command line (see remember_typed)
TYPED_MIN_CHARS = 6
_TYPED_ENV = ("PLAN_ENDPOINT", "OLLAMA_HOST", "PLAN_JUDGE_ENDPOINT", "PLAN_SMTP_HOST", "PLAN_SMTP_USER", "PLAN_SMTP_FROM")


def remember_typed(args: Iterable[str]) -> None:
    """The command line's own values (an endpoint's address, a recipient) are the user's input, not log text: the
    terminal shows them as typed. Files, reports and mail get no such exception."""
    import os

    values = [a for a in args if a and not a.startswith("-")] + [os.environ.get(name, "") for name in _TYPED_ENV]
    pieces = [p for v in values for p in re.split(r"[\s/,;=]+|:(?=\d|//)", v)]
    # Only values that could be redacted at all (an address, a host, a path); "2" from --k 2 must not hide a digit.
    _TYPED[:] = sorted({v for v in values + pieces if len(v) >= TYPED_MIN_CHARS}, key=len, reverse=True)


def _redact_keeping(texts: list[str], keep: Iterable[str]) -> list[str | None]:
    kept = sorted({k for k in keep if k}, key=len, reverse=True)
    if not kept:
        return redact_many(texts)
    # A kept value stands for itself only as a whole token, never as a piece of a longer one (a secret).
    pattern = re.compile(r"(?<![A-Za-z0-9_])(?:" + "|".join(re.escape(k) for k in kept) + r")(?![A-Za-z0-9_])")
    index = {k: i for i, k in enumerate(kept)}
    masked = [pattern.sub(lambda m: f"\x00{index[m.group()]}\x00", text) for text in texts]
    out = []
    for text in redact_many(masked):
        for i, value in enumerate(kept):
            text = (text or "").replace(f"\x00{i}\x00", value)
        out.append(text)
    return out


def echo(text: Any = "", *, err: bool = False, nl: bool = True, limit: int | None = TERMINAL_VALUE_CHARS,
         keep: Iterable[str] = ()) -> None:
    """Print through the gate. Each line is cut on its own, so one huge value cannot flood the terminal.
    ``keep``: values the user typed (a recipient, the SMTP login), shown as given rather than as [EMAIL]."""
    import click

    safe = strip_controls(_redact_keeping(["" if text is None else str(text)], [*keep, *_TYPED])[0] or "")
    if limit is not None:
        safe = "\n".join(cut(line, limit) for line in safe.split("\n"))
    click.echo(safe, err=err, nl=nl)


def say(message: Any, *, keep: Iterable[str] = ()) -> None:
    """Chatter for people, on stderr, through the gate."""
    echo(message, err=True, keep=keep)


def emit_json(payload: Any) -> None:
    """``--json``: the payload through the gate, on stdout (values typed on the command line shown as typed)."""
    plain = _plain(payload)
    strings: dict[str, None] = {}
    _collect_strings(plain, strings)
    mapping = dict(zip(strings, _redact_keeping(list(strings), _TYPED), strict=True))
    sys.stdout.write(json.dumps(_finish(_swap(plain, mapping), JSON_VALUE_CHARS), indent=2, default=str) + "\n")


def _collect_strings(value: Any, out: dict) -> None:
    if isinstance(value, str):
        out[value] = None
    elif isinstance(value, dict):
        for k, v in value.items():
            _collect_strings(k, out)
            _collect_strings(v, out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _collect_strings(v, out)


def _swap(value: Any, mapping: dict) -> Any:
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, dict):
        return {_swap(k, mapping): _swap(v, mapping) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_swap(v, mapping) for v in value]
    return value


def _plain(value: Any) -> Any:
    """Dates, decimals and other objects as the strings json.dumps would write, so the gate sees them too."""
    if isinstance(value, dict):
        return {(str(k) if not isinstance(k, (str, int, float, bool)) and k is not None else k): _plain(v)
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def gate_frame(frame, *, redact: bool = True):
    """A polars DataFrame with every text cell (and every text in a list cell) through the gate."""
    import polars as pl

    text_columns = [name for name, dtype in frame.schema.items()
                    if dtype == pl.String or (isinstance(dtype, pl.List) and dtype.inner == pl.String)]
    if not text_columns or frame.height == 0:
        return frame
    values: dict[str, None] = {}
    for name in text_columns:
        column = frame[name]
        items = column.explode() if isinstance(column.dtype, pl.List) else column
        values.update(dict.fromkeys(v for v in items.unique().to_list() if v is not None))
    originals = list(values)
    safe = redact_many(originals) if redact else originals
    mapping = {old: strip_controls(new or "") for old, new in zip(originals, safe, strict=True) if strip_controls(new or "") != old}
    if not mapping:
        return frame
    exprs = []
    for name in text_columns:
        if isinstance(frame.schema[name], pl.List):
            exprs.append(pl.col(name).list.eval(pl.element().replace(mapping)))
        else:
            exprs.append(pl.col(name).replace(mapping))
    return frame.with_columns(exprs)


def gated(*, redact_kw: str = "redact"):
    """Decorator for notebook helpers: frames and dicts they return go through the gate (``redact=False``, a
    local notebook's explicit choice, still strips control characters)."""
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args, **kwargs):
            result = fn(*args, **kwargs)
            return _gate_result(result, redact=kwargs.get(redact_kw, True) is not False)

        return inner

    return wrap


def _gate_result(result: Any, *, redact: bool) -> Any:
    if _is_frame(result):
        return gate_frame(result, redact=redact)
    if isinstance(result, dict):
        out = gate({k: v for k, v in result.items() if not _is_frame(v)}, redact=redact, limit=None)
        out.update({k: gate_frame(v, redact=redact) for k, v in result.items() if _is_frame(v)})
        return out
    if isinstance(result, tuple):
        return tuple(_gate_result(v, redact=redact) for v in result)
    return result


def _is_frame(value: Any) -> bool:
    return type(value).__module__.startswith("polars") and hasattr(value, "schema")

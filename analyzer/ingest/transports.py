"""Log lines as a log store or a container runtime hands them back, wrapped: read as the lines they carry.

An app's JSON log lines reach a user through whatever collected them, each line inside the collector's own record:

- **Kubernetes node logs** (CRI, ``/var/log/pods/.../0.log``): ``2026-11-01T10:00:00.123456789Z stdout F {...}``; a line
  over 16 KB is written as pieces marked ``P`` before its last piece ``F``.
- **Grafana Loki**: ``logcli query --output=jsonl`` writes ``{"labels", "line", "timestamp"}`` per line; the
  ``query_range``/``query`` API returns ``{"status", "data": {"resultType": "streams", "result": [{"stream",
  "values": [[nanoseconds, line], ...]}]}}``.
- **Azure Monitor's container logs** (AKS Container Insights): rows of ``ContainerLogV2`` (the line in
  ``LogMessage``, a JSON line kept as JSON) or the older ``ContainerLog`` (``LogEntry``), as the Logs blade's CSV, the
  query API's tables or ``az monitor log-analytics query`` return them.

``unwrapped(src)`` gives a file of the lines carried (a private temporary file) under the same name, which the formats
then detect and read as if the app had written it: every format reads through any of these. The lines are written
for detection, removed (``set_aside``) and written again just while the file is read (``lines_written``), so a
directory of wrapped logs needs room for one file's lines at a time.
A line keeps its number where the wrapper kept one per line (the pieces of a CRI line joined at its first piece's
number); Loki's API lines are numbered in time order. The collector's time is not kept: the app's line states its own.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from ..errors import PlanError
from .records import Reject
from .sources import SourceFile

CRI_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T[\d:.]+(?:Z|[+-]\d{2}:?\d{2}) (?:stdout|stderr) ([FP]) ?")
LOKI_LINE_KEYS = frozenset({"labels", "line", "timestamp"})
PROBE_LINES = 20
LABELS = {"cri": "Kubernetes' CRI container log", "loki-jsonl": "Loki's logcli JSON Lines",
          "loki-api": "a Loki query API response", "azure-containers": "Azure Monitor's container logs"}
# (line column, columns that say a row is a container's) of ContainerLogV2 and the older ContainerLog
CONTAINER_TABLES = (("LogMessage", {"ContainerName", "PodName", "ContainerId", "PodNamespace"}),
                    ("LogEntry", {"ContainerID", "Image", "Name"}))


def transport_of(src: SourceFile) -> str | None:
    """Which wrapper the file's lines are in ('cri', 'loki-jsonl', 'loki-api', 'azure-containers'), None for a file of
    its own, or one that cannot be read (the formats' detection says why, or skips it in a directory)."""
    try:
        return _transport_of(src)
    except Exception:  # noqa: BLE001 - as detection's sniffers: a file no reader can open is not a transport
        return None


def _transport_of(src: SourceFile) -> str | None:
    head = src.head()
    text = head.decode("utf-8", "replace")
    lines = [line for line in text.split("\n")[:PROBE_LINES + 1] if line.strip()]
    if len(head) >= 65536 and len(lines) > 1:
        lines = lines[:-1]  # the last may be cut
    if not lines:
        return None
    if all(CRI_LINE.match(line) for line in lines):
        return "cri"
    if _container_column(src) is not None:
        return "azure-containers"
    if re.search(rb'"resultType"\s*:\s*"streams"', head) and head.lstrip().startswith(b"{"):
        return "loki-api"
    if not lines[0].startswith("{") or '"line"' not in lines[0]:
        return None
    try:
        first = json.loads(lines[0])
    except (ValueError, RecursionError):
        return None
    if isinstance(first, dict) and {"line", "timestamp"} <= first.keys() <= LOKI_LINE_KEYS and isinstance(first["line"], str):
        return "loki-jsonl"
    return None


def cri_lines(src: SourceFile) -> Iterator[str]:
    """The container's lines, each at its first piece's number (the later pieces' numbers left blank)."""
    pieces: list[str] = []
    # Only "\n" ends a line, as ``SourceFile.lines`` counts them: a progress bar's "\r" stays inside its line.
    with io.TextIOWrapper(src.open_binary(), encoding="utf-8-sig", errors="replace", newline="\n") as fh:
        for raw in fh:
            line = raw.rstrip("\r\n")
            match = CRI_LINE.match(line)
            if match is None:
                yield from _flush(pieces)
                yield line  # not the runtime's: the reader says what it is
                continue
            pieces.append(line[match.end():])
            if match[1] == "F":
                yield from _flush(pieces)
    yield from _flush(pieces)


def _flush(pieces: list[str]) -> Iterator[str]:
    if pieces:
        yield "".join(pieces)
        yield from [""] * (len(pieces) - 1)
        pieces.clear()


def at_their_numbers(numbered) -> Iterator[str]:
    """Lines at the numbers they had in the wrapper's file (blank lines fill the gaps: a CSV's header, a cell over
    several lines, blank lines), so that a row's and a reject's line is the user's file's."""
    written = 0
    for number, line in numbered:
        while written < number - 1:
            yield ""
            written += 1
        yield line
        written += 1


def loki_jsonl_lines(src: SourceFile) -> Iterator[str]:
    def carried():
        for number, line in src.lines():
            try:
                record = json.loads(line)
            except (ValueError, RecursionError):
                yield number, line  # the reader rejects it with its reason
                continue
            yield number, record["line"] if isinstance(record, dict) and isinstance(record.get("line"), str) else line
    return at_their_numbers(carried())


def loki_api_lines(src: SourceFile) -> Iterator[str]:
    try:
        document = json.loads(src.read_text())
    except (ValueError, RecursionError) as exc:
        raise PlanError(f"{src.display}: a Loki query API response that is not valid JSON ({exc}).") from None
    result = (document.get("data") or {}).get("result") if isinstance(document, dict) else None
    values = [value for stream in result or [] if isinstance(stream, dict) for value in stream.get("values") or []
              if isinstance(value, list) and len(value) >= 2 and isinstance(value[1], str)]
    for _, line in sorted(values, key=lambda value: int(value[0]) if str(value[0]).isdigit() else 0):
        yield line


def _container_column(src: SourceFile) -> str | None:
    """The column holding the container's line when the file is a table of Azure Monitor's container logs."""
    from .formats.generic import table_columns

    columns = set(table_columns(src))
    head = src.head()
    for line_column, marks in CONTAINER_TABLES:
        in_tables = b'"tables"' in head and f'"{line_column}"'.encode() in head
        if (line_column in columns and marks & columns) or (in_tables and any(f'"{m}"'.encode() in head for m in marks)):
            return line_column
    return None


def azure_container_lines(src: SourceFile) -> Iterator[str]:
    from .formats.generic import iter_values
    from .formats.otel_spans import app_insights_rows

    column = _container_column(src)

    def carried():
        for number, value in iter_values(src):
            if isinstance(value, Reject):
                yield number, f"(a row that could not be read: {value.reason})"  # rejected by the reader, with the reason
                continue
            rows = app_insights_rows(value) if isinstance(value, dict) else None
            for row in rows if rows is not None else [value]:
                line = row.get(column) if isinstance(row, dict) else None
                yield number, line if isinstance(line, str) else json.dumps(line) if line is not None else ""
    return at_their_numbers(carried())


READERS = {"cri": cri_lines, "loki-jsonl": loki_jsonl_lines, "loki-api": loki_api_lines,
           "azure-containers": azure_container_lines}


def unwrapped(src: SourceFile) -> tuple[SourceFile, str | None]:
    """(the file of the lines ``src`` carries, the wrapper's name), or (``src``, None) when it is in none. The lines
    are written to a private temporary file; ``set_aside`` removes it and ``lines_written`` writes them again."""
    kind = transport_of(src) if type(src) is SourceFile else None
    if kind is None:
        return src, None
    try:
        path = _write_lines(src, kind)
    except PlanError:
        if src.explicit:
            raise
        return src, None  # found in a directory: the formats' detection skips it with its sentence
    inner = replace(src, path=path, size_bytes=path.stat().st_size, temporary=True, _head=None, _gzip=None,
                    carrier=(src, kind))
    return inner, LABELS[kind]


def _write_lines(src: SourceFile, kind: str) -> Path:
    """The lines ``src`` carries, one per line, in a new private temporary file (created exclusively, mode 0600)."""
    handle, name = tempfile.mkstemp(prefix="plan-lines-", suffix=".jsonl")
    path = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            for line in READERS[kind](src):
                out.write(line.replace("\n", " ").encode("utf-8", "replace") + b"\n")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def set_aside(src: SourceFile) -> None:
    """Remove the lines of a wrapped file once its format is known: a directory of node logs needs room for one
    file's lines at a time, not all of them."""
    if src.carrier is not None:
        src.path.unlink(missing_ok=True)


@contextmanager
def lines_written(src: SourceFile) -> Iterator[None]:
    """While a wrapped file is read: its lines in a new file of their own (``src.path``), removed afterwards. A
    wrapped file that can no longer be read (rotated away since the run began, a full disk) is a sentence that names
    it."""
    if src.carrier is None:
        yield
        return
    carrier, kind = src.carrier
    try:
        src.path = _write_lines(carrier, kind)
    except OSError as exc:
        raise PlanError(f"{carrier.display}: cannot read ({exc.strerror or exc}); nothing from this file was stored.") from None
    try:
        yield
    finally:
        src.path.unlink(missing_ok=True)

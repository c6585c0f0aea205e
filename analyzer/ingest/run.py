"""The steps of one `plan ingest` run: find the files, detect their formats, read each (SQL or Python route),
write the batch inputs that found no output, explain files that did not match, record provenance, summarise."""

from __future__ import annotations

import hashlib
import os
import zlib
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..errors import PlanError
from ..progress import Say
from . import tuning
from .batch_joins import join_stored_batch_halves
from .detect import detect_format, explain_mismatch, explain_rejects, unknown_format_message
from .incoming import FileResult, IncomingRows
from .priced import Tariffs
from .reader import FILE_SEQ, FileReader, IngestContext
from .rejects import Rejects
from .remote import ObjectsProgress, RemoteObject, RemoteObjects
from .s3_bodies import BODY_FORMAT, BodyObjects, local_roots
from .sample_rates import apply_file_rates
from .sources import SourceFile, expand_paths
from .sql_route import SqlRoute
from .transports import lines_written, set_aside, unwrapped
from .summary import build_summary, file_entry, file_stats

if TYPE_CHECKING:
    import duckdb

    from . import IngestSettings


class Bars:
    """Progress on stderr: a bar of bytes per local file; one bar of objects and bytes per object-storage listing."""

    def __init__(self):
        from ..progress import bar

        self.objects = ObjectsProgress(bar)

    def for_file(self, src: SourceFile):
        from ..output import clean
        from ..progress import bar

        if isinstance(src, RemoteObject):
            return self.objects.track(src)
        return bar(total=src.size_bytes or None, desc=clean(src.display[-40:], limit=40), unit="B", unit_scale=True)

    def close(self) -> None:
        self.objects.close()


class _Digest:
    """sha256 of the bytes on disk, computed while the file is read once; recomputed if it was not."""

    def __init__(self, src: SourceFile):
        self.src = src
        self.reset()

    def update(self, data) -> None:
        self.hash.update(data)
        self.count += len(data)

    def reset(self) -> None:
        self.hash = hashlib.sha256()
        self.count = 0

    def hexdigest(self) -> str:
        if self.count == self.src.size_bytes:
            return self.hash.hexdigest()
        full = hashlib.sha256()
        with open(self.src.path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                full.update(block)
        return full.hexdigest()


def run(con: duckdb.DuckDBPyConnection, settings: IngestSettings, *, progress: bool, say: Say) -> dict:
    from .formats import load_all

    formats = load_all()
    if settings.format is not None and settings.format not in formats:
        raise PlanError(f"Unknown format {settings.format!r}. Known formats: {', '.join(sorted(formats))}.")
    objects = RemoteObjects(con, settings, fmt=settings.format, say=say)
    bars = Bars() if progress else None
    previous_limit = previous_vacuum = None
    sources: list[SourceFile] = []
    try:
        sources = objects.since_filter(expand_paths(list(settings.paths), expand_url=objects.expand))
        if settings.sample_rate is not None and objects.unchanged_urls:  # not read again, but the flag is about them
            for sentence in record_sample_rates(con, objects.unchanged_urls, settings.sample_rate):
                say(sentence)
        if not sources and (objects.listings or objects.local_before_since):
            return nothing_new(con, settings, objects)
        previous_limit, previous_vacuum = cap_memory(con), no_merging(con)
        summary = {**_run(con, settings, sources, formats, bars, say), **objects.summary()}
        checkpoint(con)
        return summary
    finally:
        objects.close()
        if bars is not None:
            bars.close()
        if previous_limit is not None:
            con.execute(f"set memory_limit = '{previous_limit}'")
        if previous_vacuum is not None:
            con.execute(f"set max_vacuum_tasks = {int(previous_vacuum)}")
        for src in sources:
            if src.temporary:
                try:
                    os.unlink(src.path)
                except OSError:
                    pass


def nothing_new(con, settings, objects: RemoteObjects) -> dict:
    """Every object was read before (or is older than --since): a run that adds nothing, and says so."""
    from ..db import record_stage_run
    from .summary import build_summary

    started = datetime.now(timezone.utc).replace(tzinfo=None)
    summary = {**build_summary([], [], []), **objects.summary()}
    params = {"paths": list(settings.paths), "format": settings.format, "map": dict(settings.mapping)}
    record_stage_run(con, "ingest", params, {**summary, "files": 0}, started_at=started)
    return summary


def _run(con, settings, sources: list[SourceFile], formats: dict, bars: Bars | None, say: Say) -> dict:
    from ..db import record_stage_run
    from ..pricing import Pricing

    if not sources:
        raise PlanError("No files to ingest: the paths given hold no files.")
    started = datetime.now(timezone.utc).replace(tzinfo=None)
    stamp = con.execute("select now()::timestamp").fetchall()[0][0]
    ctx = IngestContext(mapping=dict(settings.mapping), config={"prices": dict(settings.prices)},
                        body_objects=BodyObjects(local_roots(settings.paths)))
    planned, skipped = plan_files(sources, formats, settings.format, say)
    results = {src.display: FileResult(path=src.display, format=name or "empty") for src, name in planned}

    tariffs = Tariffs(con, Pricing(ctx.config, now=started), started)
    incoming = IncomingRows(con, tariffs, stamp)
    reader = FileReader(con, incoming, Rejects(con), results, ctx, started)
    seq_bases = {src.display: number * FILE_SEQ for number, (src, _) in enumerate(planned, start=1)}
    digests = read_planned(reader, planned, formats, seq_bases, settings, bars)
    note_skipped_files(skipped, results, formats, ctx)
    write_unmatched_batch_inputs(con, reader, seq_bases)
    join_stored_batch_halves(con, results, ctx.joined, stamp)
    ctx.warnings.extend(record_sample_rates(con, [src.display for src, name in planned if name], settings.sample_rate))
    note_batch_joins(ctx, results)
    ordered = [results[src.display] for src in sources if src.display in results]
    stats = {r.path: file_stats(con, r.path, stamp) for r in ordered}
    note_rejected_files(con, planned, results, formats, ctx, stats)
    record_files(con, files_to_record(planned, skipped, results), results, digests)

    files = [file_entry(r, stats[r.path]) for r in ordered]
    summary = build_summary(files, tariffs.unknown_models, incoming.conflict_examples)
    record_stage_run(
        con, "ingest",
        {"paths": [s.display for s in sources], "format": settings.format, "map": dict(settings.mapping),
         "sample_rate": settings.sample_rate},
        {**{k: v for k, v in summary.items() if k not in ("files", "conflicts")}, "files": len(files),
         "rows_duplicate_by_file": {r.path: r.rows_duplicate for r in ordered},
         "rows_conflicting_by_file": {r.path: r.rows_conflicting for r in ordered if r.rows_conflicting},
         "rows_skipped_by_file": {r.path: r.rows_skipped for r in ordered if r.rows_skipped}},
        started_at=started,
    )
    for sentence in ctx.warnings:
        say(sentence)
    return summary


def read_planned(reader: FileReader, planned, formats: dict, seq_bases: dict, settings, bars: Bars | None) -> dict:
    """Each file read in its turn; returns their sha256 by file. A Bedrock body object already read as the body of
    a record is not read again as a log (Bedrock logs are read first, so its record came before it)."""
    bodies = reader.ctx.body_objects
    digests = {}
    for src, name in planned:
        if name is None or _is_body_object(src, reader.results, bodies):
            continue
        with lines_written(src):
            digests[src.display] = read_file(reader, formats[name], src, name, seq_bases[src.display], settings, bars)
        report = bodies.report(src.display) if bodies is not None else None
        reader.results[src.display].s3_bodies = report
        if report and report["note"]:
            reader.ctx.warnings.append(f"{src.display}: {report['note']}")
    return digests


def _is_body_object(src: SourceFile, results: dict[str, FileResult], bodies: BodyObjects | None) -> bool:
    """Whether ``src`` was read as the body of a Bedrock record; if so its entry says which log it belongs to."""
    log = bodies.claimed_by(src) if bodies is not None else None
    if log is None:
        return False
    results[src.display] = FileResult(path=src.display, format=BODY_FORMAT, joined_into=[log])
    if isinstance(src, RemoteObject):
        src.fetcher.skip(src)
    return True


def note_skipped_files(skipped: list[SourceFile], results: dict[str, FileResult], formats: dict, ctx: IngestContext) -> None:
    """Files no format recognises get a sentence on what they resemble, unless they were read as Bedrock bodies."""
    for src in skipped:
        if _is_body_object(src, results, ctx.body_objects):
            continue
        results[src.display] = FileResult(path=src.display, format="unknown")
        with lines_written(src):
            why = explain_mismatch(src, formats)
        results[src.display].note = f"not a log format plan recognises{'; ' + why if why else ''}"
        ctx.warnings.append(f"{src.display}: skipped, {results[src.display].note}.")


def files_to_record(planned, skipped: list[SourceFile], results: dict[str, FileResult]) -> list:
    """(file, format) for ``ingested_files``. Body objects are recorded as Bedrock's, so that a later run, with or
    without ``--format bedrock``, passes over them with their log instead of reading them as logs."""
    recorded = [(src, "bedrock" if results[src.display].format == BODY_FORMAT else name) for src, name in planned]
    return recorded + [(src, "bedrock") for src in skipped if results[src.display].format == BODY_FORMAT]


def plan_files(sources: list[SourceFile], formats: dict, fmt: str | None, say: Say | None = None):
    """(files with their format, or None when empty; files no format recognises) in reading order: batch inputs
    before their outputs. An unrecognised file named on its own is an error; one found in a folder is skipped. A file
    of an app's lines wrapped by a log store or container runtime is planned as the lines it carries (``transports``)."""
    planned: list[tuple[SourceFile, str | None]] = []
    skipped: list[SourceFile] = []
    for carrier in sources:
        src, label = unwrapped(carrier)
        if label and say is not None:
            say(f"{carrier.display}: {label}; reading the log lines inside it.")
        try:
            recognised, name = _format_of(src, formats, fmt)
        finally:
            set_aside(src)
        if recognised:
            planned.append((src, name))
        else:
            skipped.append(src)
    if not any(name for _, name in planned) and skipped:
        if len(skipped) == 1:
            with lines_written(skipped[0]):
                raise PlanError(unknown_format_message(skipped[0], formats))
        raise PlanError(
            f"None of the {len(skipped)} files found is a log format plan recognises "
            f"(e.g. {skipped[0].display}). Pass --format NAME, or --format generic --map ... for other CSV/JSONL."
        )
    planned.sort(key=lambda item: formats[item[1]].order if item[1] else 0)
    return planned, skipped


def _format_of(src: SourceFile, formats: dict, fmt: str | None) -> tuple[bool, str | None]:
    """(whether a format recognises ``src``, its name or None when it is empty); an error when it is not recognised
    and was named on its own."""
    try:
        if src.size_bytes == 0 or not src.head().strip():
            return True, None
        name = fmt or detect_format(src, formats)
    except OSError as exc:
        raise PlanError(f"{src.display}: cannot read ({exc.strerror or exc}).") from None
    except EOFError:
        raise PlanError(f"{src.display}: cannot read (the gzip file is truncated).") from None
    except zlib.error as exc:
        raise PlanError(f"{src.display}: cannot read (the gzip file is corrupt: {exc}).") from None
    if name is None:
        if src.explicit:
            raise PlanError(unknown_format_message(src, formats))
        return False, None
    return True, name


def _uses_sql_route(parser, src: SourceFile, settings, ctx: IngestContext) -> bool:
    if not settings.sql_route or not hasattr(parser, "fast_select") or not hasattr(parser, "parse_line"):
        return False
    if hasattr(parser, "sql_route_ok") and not parser.sql_route_ok(ctx):
        return False
    if 0 < src.size_bytes < tuning.SQL_MIN_BYTES and not src.is_gzip:
        return False  # planning the statements costs more than parsing a small file (a log rotated hourly)
    from .records import is_json_lines

    return is_json_lines(src)


def read_file(reader: FileReader, parser, src: SourceFile, name: str, seq_base: int, settings, bars: Bars | None) -> str:
    """One file in its own transaction (committed in steps when long); returns its sha256."""
    con = reader.con
    digest = _Digest(src)
    bar = bars.for_file(src) if bars is not None else None

    def reread():
        digest.reset()
        if bar is not None and hasattr(bar, "reset"):
            bar.reset()

    src.on_read = bar.update if bar is not None else None
    src.digest = digest
    reader.on_reread = reread
    con.execute("begin transaction")
    reader.start_file()
    try:
        if _uses_sql_route(parser, src, settings, reader.ctx):
            SqlRoute(reader, parser, src, name, seq_base).run()
        else:
            reader.python_route(parser, src, name, seq_base)
        reader.end_file(src, name, seq_base)
        reader.finish()
        con.execute("commit")
    except PlanError:
        con.execute("rollback")
        raise
    except (OSError, EOFError, zlib.error) as exc:  # a corrupt gzip stream raises zlib's own error
        con.execute("rollback")
        raise _unreadable(src, exc, reader.committed.get(src.display)) from None
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        src.on_read = None
        src.digest = None
        if bar is not None:
            bar.close()
    if src.truncated:
        reader.ctx.warnings.append(
            f"{src.display}: the gzip file is cut short; every complete record before the cut was read, "
            "and the cut-off last record is rejected. Re-download it to get the rest."
        )
    return digest.hexdigest()


def _unreadable(src: SourceFile, exc: BaseException, stored: int | None) -> PlanError:
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if isinstance(exc, zlib.error):
        reason = f"the gzip file is corrupt: {exc}"
    if stored is None:
        return PlanError(f"{src.display}: cannot read ({reason}); nothing from this file was stored.")
    return PlanError(
        f"{src.display}: cannot read ({reason}) after {stored:,} of its requests were stored; fix or "
        "re-download it and ingest it again (requests already stored are not added twice)."
    )


def write_unmatched_batch_inputs(con, reader: FileReader, seq_bases: dict) -> None:
    """Batch input lines no output was found for: real requests without a response (status no_response)."""
    pending = [(s, n, r) for s, n, r in reader.ctx.deferred if r is not None and not r.get("_consumed")]
    if not pending:
        return
    con.execute("begin transaction")
    try:
        for src, name, record in pending:
            reader.take(record, src, name, seq_bases.get(src.display, 0))
        reader.finish()
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def record_sample_rates(con, paths: list[str], flag: float | None) -> list[str]:
    """Stated rates marked and ``--sample-rate`` applied to the files' stored rows, in one transaction."""
    con.execute("begin transaction")
    try:
        warnings = apply_file_rates(con, paths, flag)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return warnings


def note_batch_joins(ctx: IngestContext, results: dict[str, FileResult]) -> None:
    for input_file, outputs in ctx.joined.items():
        if input_file in results:
            results[input_file].joined_into = sorted(outputs - {input_file})


# Why a file's records were all skipped, unless its format says (``skipped_hint``).
SKIPPED_HINT = "records that are not model calls are skipped and counted"
# What to do when no call of a file states its usage, unless its format says (``usage_hint``).
USAGE_HINT = "if the log keeps usage under other names, `--format generic --map input_tokens=COL,output_tokens=COL,...` reads it"


def note_rejected_files(con, planned, results: dict[str, FileResult], formats: dict, ctx: IngestContext,
                        stats: dict[str, dict]) -> None:
    """A file most of whose records were rejected gets one sentence: the format it resembles and what failed; so
    does one none of whose calls states its usage (``file_stats``)."""
    for src, name in planned:
        r = results[src.display]
        kept = r.rows_added + r.rows_duplicate + r.rows_conflicting
        if name is None:
            continue
        label = getattr(formats[name], "label", name)
        if r.rows_rejected and r.rows_rejected > kept and not r.joined_into:
            r.note = explain_rejects(con, src.display, label, r.rows_rejected, kept)
        elif r.rows_skipped and not kept and not r.joined_into:
            hint = getattr(formats[name], "skipped_hint", SKIPPED_HINT)
            r.note = f"{r.rows_skipped:,} records read as {label}, none of them a model call ({hint})"
        elif r.rows_added and stats[src.display]["rows_without_usage"] == r.rows_added:
            hint = getattr(formats[name], "usage_hint", USAGE_HINT)
            r.note = (f"none of its {r.rows_added:,} calls read as {label} states its token usage or cost, so their spend is "
                      f"unknown; {hint}")
        if r.note:
            ctx.warnings.append(f"{src.display}: {r.note}.")


def record_files(con, planned, results: dict[str, FileResult], digests: dict) -> None:
    for src, name in planned:
        r = results[src.display]
        con.execute(
            """insert into ingested_files (path, sha256, size_bytes, source_format, rows_added, rows_duplicate,
                   rows_rejected, object_version) values (?, ?, ?, ?, ?, ?, ?, ?)""",
            [src.display, digests.get(src.display), src.size_bytes, name or "empty", r.rows_added, r.rows_duplicate,
             r.rows_rejected, src.version],
        )


_UNITS = {"b": 1, "bytes": 1, "kb": 1e3, "kib": 1 << 10, "mb": 1e6, "mib": 1 << 20, "gb": 1e9, "gib": 1 << 30, "tb": 1e12, "tib": 1 << 40}


def cap_memory(con) -> str | None:
    """Lower DuckDB's buffer pool to ``tuning.MEMORY_LIMIT`` for the run; returns the setting to restore, if changed."""
    current = con.execute("select current_setting('memory_limit')").fetchall()[0][0]
    number, _, unit = str(current).strip().partition(" ")
    try:
        size = float(number) * _UNITS.get(unit.strip().lower() or "b", 1)
    except ValueError:
        return None
    if size <= tuning.MEMORY_LIMIT:
        return None
    con.execute(f"set memory_limit = '{tuning.MEMORY_LIMIT >> 20}MB'")
    return current


def no_merging(con) -> str:
    """No merging of adjacent row groups at the run's checkpoint; returns the setting to restore. A file's rows are
    written in full row groups as they are inserted, beside a partial one left by the rows stored before (an earlier
    file, the first statement of this one); merging them rewrote every row of the file at the checkpoint (200,000
    rows after 3,000: 1.9 s against 0.1 s)."""
    previous = con.execute("select current_setting('max_vacuum_tasks')").fetchall()[0][0]
    con.execute("set max_vacuum_tasks = 0")
    return previous


def checkpoint(con) -> None:
    """The run's rows written out while merging is off (else the checkpoint on closing would merge them); a database
    another connection is using is checkpointed later."""
    import duckdb

    try:
        con.execute("checkpoint")
    except duckdb.Error:
        pass

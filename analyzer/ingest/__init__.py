"""Stage 1: read exported provider logs into the `requests` table.

Entry point: ``ingest(con, settings, *, progress, say)`` with ``IngestSettings`` (``ingest_paths`` is the same call
for notebooks and tests). The steps are in ``run.py``; the parts:

- ``sources``: paths, directories, globs, pipes and stdin as readable files (gzip, BOMs, line chunks);
- ``detect``: which format a file is (``formats/``), and why a file matched none;
- ``reader``: a format's records (Python route) as rows, with rejects; ``coerce``: a record as a typed, checked row;
- ``sql_route``: JSON Lines files of formats with ``fast_select`` go into `requests` from DuckDB directly;
- ``incoming``: rows not yet stored, judged against what is (duplicate, conflict, fill-in) and appended;
- ``priced``: catalogue prices joined in SQL; ``summary``: what the run did, per file.

Re-ingesting adds nothing: a record's id is a hash of its dedupe key (provider + the log's own id, or its content).
A record that arrives again with fields the stored row lacks fills them in; one that states the call differently is
a conflict, counted and listed, and the first record is kept. Within one file the first line wins outright. A new
file is one transaction, a file taken in chunks a few: a file that cannot be read adds nothing, or says how much of
it was stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ..progress import Say, say_nothing
from ..settings import StageSettings, at_least, option
from . import tuning
from .detect import detect_format
from .reader import IngestContext
from .sample_rates import validate_flag

if TYPE_CHECKING:
    import duckdb

__all__ = ["IngestSettings", "ingest", "ingest_paths", "detect_format", "IngestContext"]


def _since(value) -> datetime:
    from .remote import parse_since

    return parse_since(value)


def _mapping(value) -> dict:
    if not isinstance(value, dict):
        raise ValueError("expected a table of FIELD = COLUMN")
    return {str(k): str(v) for k, v in value.items()}


@dataclass(frozen=True)
class IngestSettings(StageSettings):
    """What one `plan ingest` run reads and how."""

    section = "ingest"
    paths: tuple = option(default_factory=tuple, convert=tuple)
    format: str | None = option(None)
    mapping: dict = option(default_factory=dict, convert=_mapping, flag="map")
    prices: dict = option(default_factory=dict, key="prices")  # plan.toml [prices."MODEL"] overrides
    lock_wait_s: float = option(tuning.LOCK_WAIT_S, env="PLAN_LOCK_WAIT_S", convert=float, check=at_least(0))
    sql_route: bool = option(True)  # False: every file through the Python parsers (tests compare the two routes)
    # Only files and objects last modified since then (a datetime, a date, or an age such as "7d"; remote.parse_since).
    since: datetime | None = option(None, convert=_since)
    # A custom S3 endpoint (MinIO, moto, a VPC endpoint). AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL, the AWS SDKs'
    # own variables, win over it (remote.s3_endpoint).
    s3_endpoint_url: str | None = option(None)
    # Objects downloaded ahead of the reader, in parallel: object stores answer each GET after tens of ms.
    fetch_ahead: int = option(8, convert=int, check=at_least(1), env="PLAN_FETCH_AHEAD")
    # The fraction of their traffic the files hold (0.02 for a 1-in-50 sample); wins over a rate the export states.
    sample_rate: float | None = option(None, convert=float, check=validate_flag)


def ingest(con: duckdb.DuckDBPyConnection, settings: IngestSettings, *, progress: bool, say: Say) -> dict:
    """Ingest ``settings.paths`` (files, directories, globs, pipes or '-' for stdin); returns the
    `plan ingest --json` summary. ``say`` receives sentences about skipped files, files mostly rejected and batch
    lines without a match."""
    from .run import run

    return run(con, settings, progress=progress, say=say)


def ingest_paths(con, paths, *, fmt: str | None = None, mapping: dict | None = None, config: dict | None = None,
                 fast: bool = True, warn: Say | None = None, progress: bool = False, since=None,
                 sample_rate: float | None = None) -> dict:
    """``ingest`` with its settings given as arguments (``config`` is a loaded plan.toml), for notebooks and tests."""
    settings = IngestSettings.resolve(config, paths=tuple(paths), format=fmt, mapping=mapping, sql_route=fast,
                                      since=since, sample_rate=sample_rate)
    return ingest(con, settings, progress=progress, say=warn or say_nothing)

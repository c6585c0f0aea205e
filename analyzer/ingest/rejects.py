"""Records that could not be read: kept in `rejects` with file, line, reason and an excerpt, once per line and reason."""

from __future__ import annotations

import pyarrow as pa

from . import tuning
from .coerce import scrub
from .incoming import FileResult
from .records import Reject, excerpt, stable_id


class Rejects:
    def __init__(self, con):
        self.con = con
        self.buffer: list[tuple] = []

    def add(self, identity: str, display: str, fmt_name: str, reject: Reject, result: FileResult) -> None:
        line = int(reject.line) if reject.line is not None else None
        rid = stable_id("reject", identity, line, reject.reason)
        self.buffer.append((rid, display, line, fmt_name, str(reject.reason), excerpt(reject.excerpt)))
        result.rows_rejected += 1
        if len(self.buffer) >= tuning.BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        ids, files, lines, fmts, reasons, excerpts = zip(*self.buffer, strict=True)
        self.buffer = []
        table = pa.table(
            {
                "id": pa.array(ids, pa.int64()),
                "source_file": pa.array(files, pa.string()),
                "source_line": pa.array(lines, pa.int64()),
                "source_format": pa.array(fmts, pa.string()),
                "reason": pa.array([scrub(r) for r in reasons], pa.string()),
                "excerpt": pa.array([scrub(e) for e in excerpts], pa.string()),
            }
        )
        self.con.register("_ingest_rejects", table)
        try:
            self.con.execute(
                """
                insert into rejects (id, source_file, source_line, source_format, reason, excerpt)
                select * from _ingest_rejects b where b.id not in (select id from rejects)
                qualify row_number() over (partition by b.id) = 1
                """
            )
        finally:
            self.con.unregister("_ingest_rejects")


def reason_counts(con, source_file: str, limit: int = 3) -> list[tuple[str, int]]:
    """The most frequent reject reasons of a file (numbers in them folded, so one cause counts once)."""
    return con.execute(
        """
        select min(reason), count(*) from rejects where source_file = ?
        group by regexp_replace(reason, '[0-9]+', 'N', 'g') order by 2 desc, 1 limit ?
        """,
        [source_file, limit],
    ).fetchall()

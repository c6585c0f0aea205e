"""Sizes that bound ingest's memory and the number of statements it plans (tests shrink them to force edge cases).

Read as ``tuning.NAME`` at run time, never copied into another module, so that a test's monkeypatch reaches every
step."""

from __future__ import annotations

BATCH_ROWS = 20_000  # Python-route records per Arrow batch
STAGE_ROWS = 250_000  # staged rows per flush into `requests`
# The same bounds in bytes of text, for rows that are long: an agent's calls carry conversations of 100 KB and more.
BATCH_BYTES = 64 << 20
STAGE_BYTES = 256 << 20
COMMIT_BYTES = 128 << 20
LONG_LINES = 32 << 10  # rows this long on average: the SQL route takes them chunk by chunk, commits checkpoint them
SQL_MIN_BYTES = 2 << 20  # smaller files take the Python route: the SQL route's planning costs ~0.15 s a file
CHUNK_BYTES = 64 << 20  # SQL route: bytes of JSON Lines per chunk (each statement costs ~30 ms to plan)
BATCH_TEXT_BYTES = 8 << 20  # SQL route: bytes of lines per Arrow batch DuckDB scans, at most (long lines, short batches)
PROBE_LINES = 2_000  # SQL route: first lines parsed up front for the models to price and ids already stored
PROBE_MIN_BYTES = 16 << 20  # SQL route: a smaller file skips that probe (planning it costs ~0.2 s, as much as the file's statement)
HELD_PIECES = 100_000  # SQL route: leftover lines that are pieces of a call (a streamed answer), held to be folded
FEW_LINES = 2_000  # SQL route: lines left over that go to the Python parser without another statement (planning one costs 0.3-1.5 s)
COMMIT_ROWS = 100_000  # a file taken in chunks or by Python is committed in steps (DuckDB holds small appends in memory)
MEMORY_LIMIT = 1 << 30  # DuckDB's buffer pool during ingest (its default is 80% of RAM); at 512 MB it frees and refaults
LOCK_WAIT_S = 5.0  # how long a second writer waits for the database before it is told who holds it
MAX_JSON_DEPTH = 200  # JSON nested deeper than this is a reject: Python's parser would overflow its stack near 1,000

"""Turning the paths a user gives into readable files: directories, globs, stdin, gzip, BOMs."""

from __future__ import annotations

import functools
import glob
import gzip
import hashlib
import io
import json
import os
import queue
import re
import stat
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import PlanError
from . import tuning

SKIP_NAMES = {".DS_Store", "Thumbs.db"}
LONG_FIRST_LINE = 16 << 20  # how far the head reads a first line longer than itself (a long prompt's record)
DOCUMENT_HEAD = 4 << 20  # how far it reads a pretty-printed document whose first record is longer than itself
SETTLED_SECONDS = 120  # a file unchanged this long is taken for an export, not a log still being written
BOM = b"\xef\xbb\xbf"


class _CountingReader(io.RawIOBase):
    """Reports bytes read from the file on disk (before gunzip), so progress bars know how far along they are."""

    def __init__(self, raw, on_read: Callable[[int], object] | None, digest=None):
        self.raw = raw
        self.on_read = on_read
        self.digest = digest

    def readable(self):
        return True

    def readinto(self, buffer):
        n = self.raw.readinto(buffer)
        if n:
            if self.digest is not None:
                self.digest.update(memoryview(buffer)[:n])
            if self.on_read is not None:
                self.on_read(n)
        return n

    def close(self):
        self.raw.close()
        super().close()


def through_first_record(fh, head: bytes) -> bytes:
    """A full head (``fh`` reads on after it), extended when its first record does not end within it: a JSON Lines
    file's long first line, a pretty-printed document's long first record."""
    if b"\n" not in head:
        return _through_first_line(fh, head)
    if _opens_a_document(head):
        return _through_first_document_record(fh, head)
    return head


def _opens_a_document(head: bytes) -> bool:
    """Whether the head opens a pretty-printed JSON document (its first line opens a list or an object), whose
    first record may be longer than the head."""
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n").split(b"\n", 1)[0].strip()
    return first.endswith((b"[", b"{"))


def _first_record_whole(head: bytes) -> bool:
    """Whether the first object inside a document's opening bracket ends within the head."""
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    start = text.find("{", 1)
    if start < 0:
        return True
    try:
        json.JSONDecoder().raw_decode(text, start)
    except (ValueError, RecursionError):
        return False
    return True


def _through_first_document_record(fh, head: bytes) -> bytes:
    """A pretty-printed document whose first record is cut by the head (a LangSmith run with a long prompt): read on,
    doubling, until that record ends, up to ``DOCUMENT_HEAD``."""
    while not _first_record_whole(head) and len(head) < DOCUMENT_HEAD:
        more = fh.read(min(len(head), DOCUMENT_HEAD - len(head)))
        if not more:
            break
        head += more
    return head


def _through_first_line(fh, head: bytes) -> bytes:
    """A head holding no whole line (a JSON Lines file whose first record carries a long prompt, a collector's export
    batch): the first line, then the start of the next, so that sniffing sees a whole record. A file of one line (a
    JSON document written on one line) is its whole line, without a line end: it stays a document, as when its head
    was cut. A line longer than ``LONG_FIRST_LINE`` keeps the first bytes."""
    line = bytearray(head)
    while len(line) < LONG_FIRST_LINE:
        piece = fh.read(1 << 20)
        if not piece:
            return bytes(line)
        end = piece.find(b"\n")
        if end < 0:
            line += piece
            continue
        line += piece[:end + 1]
        after = piece[end + 1:end + 1 + len(head)]
        if len(after) < len(head):
            after += fh.read(len(head) - len(after))
        return bytes(line) + after if after.strip() else bytes(line).rstrip(b"\r\n")
    return head


@dataclass
class SourceFile:
    path: Path
    display: str
    size_bytes: int = 0
    # False for files found inside a directory or by a glob: an unknown format there is skipped, not fatal.
    explicit: bool = True
    # What rejects are keyed on, so re-reading the same file by another spelling adds no new rejects.
    identity: str = ""
    # Called with the number of bytes read from disk; the ingest core points it at the progress bar.
    on_read: Callable[[int], object] | None = field(default=None, repr=False)
    # Fed every byte read from disk (e.g. a hashlib object): the file's checksum without a second read.
    digest: Any = field(default=None, repr=False)
    # stdin is spooled to a private temporary file, removed when the ingest is done
    temporary: bool = False
    _head: bytes | None = field(default=None, repr=False)
    _gzip: bool | None = field(default=None, repr=False)
    # Set when a gzip stream ends before its end-of-stream marker (an upload or copy cut short).
    truncated: bool = field(default=False, repr=False)
    # An object in storage: its ETag, generation or version id (ingested_files.object_version); None for local files.
    version: str | None = None
    # (the file, the wrapper's name) whose lines this temporary file holds (``transports.unwrapped``).
    carrier: tuple | None = field(default=None, repr=False)

    def __post_init__(self):
        if not self.identity:
            try:
                self.identity = str(Path(self.path).resolve())
            except OSError:
                self.identity = str(self.path)

    @property
    def is_gzip(self) -> bool:
        if self._gzip is None:
            with open(self.path, "rb") as fh:
                self._gzip = fh.read(2) == b"\x1f\x8b"
        return self._gzip

    @property
    def name(self) -> str:
        """File name without a trailing .gz, for detection by extension."""
        name = self.path.name if self.display == "<stdin>" else Path(self.display).name
        return name[:-3] if name.lower().endswith(".gz") else name

    def open_binary(self):
        raw: io.RawIOBase = open(self.path, "rb", buffering=0)
        if self.on_read is not None or self.digest is not None:
            raw = _CountingReader(raw, self.on_read, self.digest)
        buffered = io.BufferedReader(raw, buffer_size=1 << 20)
        if self.is_gzip:
            return io.BufferedReader(_EndsAtTruncation(gzip.GzipFile(fileobj=buffered, mode="rb"), self), buffer_size=1 << 20)
        return buffered

    def head(self, size: int = 65536) -> bytes:
        """The first bytes, decompressed, BOM stripped: what format detection looks at."""
        if self._head is None:
            hooks, self.on_read, self.digest = (self.on_read, self.digest), None, None
            try:
                with self.open_binary() as fh:
                    data = fh.read(size)
                    if len(data) == size:
                        data = through_first_record(fh, data)
            finally:
                self.on_read, self.digest = hooks
            self._head = data[3:] if data.startswith(BOM) else data
        return self._head

    def open_text(self):
        """Text stream with a UTF-8 byte-order mark removed and undecodable bytes replaced."""
        return io.TextIOWrapper(self.open_binary(), encoding="utf-8-sig", errors="replace", newline="")

    def lines(self) -> Iterator[tuple[int, str]]:
        """(1-based line number, line text without its line ending); blank lines are skipped.

        Only "\\n" ends a line (a stray "\\r" inside a record does not split it), exactly as the
        bulk reader ``line_chunks`` counts, so both give every line the same number."""
        stream = io.TextIOWrapper(self.open_binary(), encoding="utf-8-sig", errors="replace", newline="\n")
        with stream as fh:
            for number, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield number, line

    def read_text(self) -> str:
        with self.open_text() as fh:
            return fh.read()

    def line_chunks(self, chunk_bytes: int = 32 << 20, index: "LineIndex | None" = None):
        """The file as Arrow tables ``(line_no int64, text large_string)`` of about ``chunk_bytes`` each.

        Lines keep their "\\n" (and any "\\r"): JSON parsers ignore it and it saves a copy. Invalid UTF-8
        is replaced as in ``lines()``. Memory stays at a few chunks whatever the file size. ``index`` is given
        the offset of every line (of the decompressed stream), to read some back later by number."""
        import numpy as np
        import pyarrow as pa

        next_line = 1
        for at, body in self._line_blocks(chunk_bytes):
            arr = np.frombuffer(body, dtype=np.uint8)
            ends = np.flatnonzero(arr == 10) + 1
            if not len(ends) or ends[-1] != len(body):
                ends = np.append(ends, len(body))
            offsets = np.empty(len(ends) + 1, dtype=np.int64)
            offsets[0] = 0
            offsets[1:] = ends
            count = len(ends)
            text = text_array(body, offsets)
            if index is not None:
                index.add(at + offsets[:-1], at + len(body))
            numbers = pa.array(np.arange(next_line, next_line + count, dtype=np.int64))
            next_line += count
            table = pa.Table.from_arrays([numbers, text], names=["line_no", "text"])
            # Several record batches (zero-copy slices): DuckDB scans Arrow batches in parallel. Long lines make
            # short batches: DuckDB works a batch's rows (up to 2,048) at once, and 2,048 lines of an agent's
            # 400 KB conversations, parsed, ran out of memory.
            rows = max(1, min(max(1024, count // 16 + 1), tuning.BATCH_TEXT_BYTES * count // max(len(body), 1)))
            yield pa.Table.from_batches(table.to_batches(max_chunksize=rows))

    def _line_blocks(self, chunk_bytes: int):
        """(offset in the decompressed stream, bytes) of consecutive runs of whole lines, BOM left out."""
        if not self.is_gzip and self.settled():
            try:
                yield from self._mapped_blocks(chunk_bytes)
                return
            except _NotMappable:
                pass
        rest = b""
        first = True
        position = 0  # bytes of the stream read so far
        with self.open_binary() as fh:
            while True:
                # Read straight into a fresh buffer after the previous chunk's unfinished line: no copies of the
                # chunk (each chunk owns its buffer, which DuckDB may still be reading while the next is filled).
                buf = bytearray(len(rest) + chunk_bytes)
                buf[: len(rest)] = rest
                view = memoryview(buf)
                filled = len(rest)
                while filled < len(buf):
                    n = fh.readinto(view[filled:])
                    if not n:
                        break
                    filled += n
                got = filled - len(rest)
                buffer_at = position - len(rest)  # stream offset of buf[0]
                position += got
                start = 0
                if first:
                    first = False
                    if bytes(view[:3]) == BOM:
                        start = 3
                if not got:
                    if filled > start:
                        yield buffer_at + start, view[start:filled]
                    return
                cut = buf.rfind(b"\n", start, filled) + 1
                if cut == 0:
                    rest = bytes(view[start:filled])
                    continue
                yield buffer_at + start, view[start:cut]
                rest = bytes(view[cut:filled])

    def settled(self) -> bool:
        """Not written to for a while: an export rather than a live log. Only such files are mapped into memory,
        because a mapped file cut short while it is read (a log rotated with copytruncate) kills the process
        (SIGBUS) instead of ending early."""
        try:
            return time.time() - os.stat(self.path).st_mtime > SETTLED_SECONDS
        except OSError:
            return False

    def _mapped_blocks(self, chunk_bytes: int):
        """Blocks of a plain file mapped into memory rather than copied out of it (about a second of CPU per GB).
        Each block is its own mapping, released when the last Arrow buffer over it goes, so memory stays at the
        blocks in flight. Progress and checksum are fed the bytes as each block is handed out."""
        import mmap

        with open(self.path, "rb", buffering=0) as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise _NotMappable()
            size = info.st_size
            position = 3 if fh.read(3) == BOM else 0
            reported = 0  # bytes handed to progress and checksum: every byte once, the BOM included
            granularity = mmap.ALLOCATIONGRANULARITY
            while position < size:
                base = position - position % granularity
                length = min(position + chunk_bytes, size) - base
                try:
                    block = mmap.mmap(fh.fileno(), length, offset=base, access=mmap.ACCESS_READ)
                except (OSError, ValueError):
                    if reported:
                        raise
                    raise _NotMappable() from None
                end = length
                if base + length < size:
                    end = block.rfind(b"\n", position - base, length) + 1
                    if end == 0:  # a line longer than a chunk: map up to its end
                        block = mmap.mmap(fh.fileno(), 0, offset=base, access=mmap.ACCESS_READ)
                        newline = block.find(b"\n", length)
                        end = len(block) if newline < 0 else newline + 1
                view = memoryview(block)
                if self.digest is not None:
                    self.digest.update(view[reported - base:end])
                if self.on_read is not None:
                    self.on_read(base + end - reported)
                reported = base + end
                yield position, view[position - base:end]
                position = base + end


class _NotMappable(Exception):
    """The file cannot be mapped into memory (a pipe, a special file system): it is read instead."""


class LineIndex:
    """Where each line of a file starts, kept in a temporary file (8 bytes a line, not in memory), so that a few
    lines can be read back by number after a bulk pass; filled by ``SourceFile.line_chunks(index=...)``. Offsets
    are in the decompressed stream of a gzip file, which is read back in one forward pass."""

    def __init__(self, path, *, compressed: bool = False):
        self._file = tempfile.TemporaryFile(prefix="plan-lines-")
        self.path = path
        self.compressed = compressed
        info = os.stat(path)
        self._identity = (info.st_dev, info.st_ino)
        self._size = info.st_size
        self.lines = 0
        self.end = 0

    def add(self, starts, end: int) -> None:
        self._file.write(starts.astype("<i8", copy=False).tobytes())
        self.lines += len(starts)
        self.end = end

    def read(self, numbers, max_bytes: int = 64 << 20):
        """Arrow tables ``(line_no, text)`` of the given (ascending, 1-based) line numbers, in file order, about
        ``max_bytes`` each; ``numbers`` may be any iterable of ints, read as it goes. Consecutive lines are read in one
        call (most of a file may be left over). A file replaced or cut short since it was indexed is an OSError
        rather than other bytes at the old offsets (lines appended are fine)."""
        import numpy as np

        if not self.lines:
            return
        self._file.flush()
        starts = np.memmap(self._file, dtype="<i8", mode="r", shape=(self.lines,))
        changed = OSError("the file changed while it was being read: replaced or cut short")
        with open(self.path, "rb") as fh:
            info = os.fstat(fh.fileno())
            if (info.st_dev, info.st_ino) != self._identity or info.st_size < (self._size if self.compressed else self.end):
                raise changed
            read_at = _ForwardGzip(fh).read_at if self.compressed else functools.partial(os.pread, fh.fileno())
            picked: list = []  # (numbers, their bytes, their offsets in those bytes) of the table being filled
            size = 0
            for run in _runs(numbers):
                begins = np.asarray(starts[run - 1], dtype=np.int64)
                last = int(run[-1])
                end = int(starts[last]) if last < self.lines else self.end
                ends = np.append(begins[1:], end)
                cut = 0
                while cut < len(run):
                    # as many of the run's lines as fit in what is left of ``max_bytes`` (one at least)
                    stop = max(cut + 1, int(np.searchsorted(ends, begins[cut] + max_bytes - size, side="right")))
                    data = read_at(int(ends[stop - 1] - begins[cut]), int(begins[cut]))
                    if len(data) != ends[stop - 1] - begins[cut]:
                        raise changed
                    offsets = np.append(begins[cut:stop], ends[stop - 1]) - begins[cut]
                    picked.append((run[cut:stop], data, offsets))
                    size += len(data)
                    cut = stop
                    if size >= max_bytes:
                        yield _lines_table(picked)
                        picked, size = [], 0
            if picked:
                yield _lines_table(picked)
        del starts

    def close(self) -> None:
        self._file.close()


class _ForwardGzip:
    """Byte ranges of a gzip file's decompressed stream, asked for in ascending order: one pass, skipping what lies
    between. A stream cut short ends where its data ends, as the first pass read it (``_EndsAtTruncation``)."""

    def __init__(self, fh):
        self._gz = gzip.GzipFile(fileobj=io.BufferedReader(fh, buffer_size=1 << 20), mode="rb")
        self._at = 0

    def _take(self, size: int, keep: bool) -> bytes:
        out = bytearray()
        while size > 0:
            try:
                data = self._gz.read1(min(size, 1 << 20))
            except EOFError:
                break
            if not data:
                break
            size -= len(data)
            self._at += len(data)
            if keep:
                out += data
        return bytes(out)

    def read_at(self, size: int, at: int) -> bytes:
        if at < self._at:
            raise OSError("lines asked for out of order")
        self._take(at - self._at, keep=False)
        return self._take(size, keep=True)


def text_array(body, offsets):
    """The lines ``body[offsets[i]:offsets[i + 1]]`` as an Arrow large_string array without copying; invalid UTF-8
    is replaced as in ``SourceFile.lines()``."""
    import pyarrow as pa

    count = len(offsets) - 1
    text = pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(body))
    try:
        text.validate(full=True)
    except pa.ArrowInvalid:  # invalid UTF-8 somewhere: decode line by line, replacing
        pieces = [bytes(body[offsets[i]:offsets[i + 1]]).decode("utf-8", "replace") for i in range(count)]
        text = pa.array(pieces, type=pa.large_string())
    return text


def _runs(numbers, block: int = 1 << 16):
    """Runs of consecutive line numbers (numpy int64 arrays) from ascending ``numbers``, read ``block`` at a time."""
    import itertools

    import numpy as np

    numbers = iter(numbers)
    while True:
        chunk = np.fromiter(itertools.islice(numbers, block), dtype=np.int64)
        if not len(chunk):
            return
        yield from np.split(chunk, np.flatnonzero(np.diff(chunk) != 1) + 1)


def _lines_table(picked: list):
    """One ``(line_no, text)`` table of the pieces ``LineIndex.read`` gathered."""
    import numpy as np
    import pyarrow as pa

    body = b"".join(data for _, data, _ in picked)
    bases = np.cumsum([0] + [len(data) for _, data, _ in picked[:-1]])
    offsets = np.concatenate([offs[:-1] + base for (_, _, offs), base in zip(picked, bases, strict=True)] + [[len(body)]])
    numbers = np.concatenate([nums for nums, _, _ in picked])
    return pa.table({"line_no": pa.array(numbers, pa.int64()), "text": text_array(body, offsets.astype(np.int64))})


def prefetch(items, depth: int = 2):
    """Iterate ``items`` in a background thread, ``depth`` ahead: file reading overlaps with SQL work."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def run():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    worker = threading.Thread(target=run, daemon=True, name="plan-prefetch")
    worker.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                worker.join(0.05)


URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def expand_paths(paths: list[str], stdin=None, expand_url: Callable[[str], list] | None = None) -> list[SourceFile]:
    """Files, directories (recursive), globs and '-' for stdin, in a stable order, each once;
    ``expand_url`` lists the objects of a URL (analyzer.ingest.remote)."""
    found: list[SourceFile] = []
    seen: set[Path] = set()

    def add(p: Path, explicit: bool):
        rp = p.resolve()
        if rp in seen or p.name in SKIP_NAMES or (not explicit and p.name.startswith(".")):
            return
        seen.add(rp)
        try:
            size = p.stat().st_size
        except OSError as exc:
            raise PlanError(f"{p}: cannot read ({exc.strerror or exc}).") from None
        found.append(SourceFile(path=p, display=str(p), size_bytes=size, explicit=explicit, identity=str(rp)))

    for raw in paths:
        if raw == "-":
            found.append(_spool_stdin(stdin))
            continue
        if expand_url is not None and URL.match(raw):
            found.extend(expand_url(raw))
            continue
        p = Path(raw)
        if p.is_dir():
            for child in sorted(x for x in p.rglob("*") if x.is_file()):
                if not any(part.startswith(".") for part in child.relative_to(p).parts):
                    add(child, explicit=False)
        elif p.is_file():
            add(p, explicit=True)
        elif any(ch in raw for ch in "*?["):
            matches = sorted(glob.glob(raw, recursive=True))
            if not matches:
                raise PlanError(f"No files match {raw}.")
            for m in matches:
                mp = Path(m)
                if mp.is_file():
                    add(mp, explicit=False)
                elif mp.is_dir():
                    found.extend(f for f in expand_paths([m]) if f.path.resolve() not in seen)
        elif p.exists() and stat.S_ISFIFO(p.stat().st_mode):
            # A pipe, e.g. `plan ingest <(zcat logs.gz)`: read once, like stdin, into a private temporary file.
            # Named twice, it is read once (a second open would wait for a writer that never comes).
            if p.resolve() not in seen:
                seen.add(p.resolve())
                with open(p, "rb") as pipe:
                    found.append(_spool_stdin(pipe, display=raw))
        elif p.exists():
            raise PlanError(f"{raw}: not a regular file, pipe or directory.")
        else:
            raise PlanError(f"{raw}: no such file or directory.")
    return found


def _spool_stdin(stdin=None, display: str = "<stdin>") -> SourceFile:
    stream = stdin if stdin is not None else sys.stdin.buffer
    if hasattr(stream, "buffer"):
        stream = stream.buffer
    digest = hashlib.sha256()
    tmp = tempfile.NamedTemporaryFile(prefix="plan-stdin-", delete=False)
    with tmp:
        os.chmod(tmp.name, 0o600)
        while True:
            block = stream.read(1 << 20)
            if not block:
                break
            digest.update(block)
            tmp.write(block)
    p = Path(tmp.name)
    return SourceFile(
        path=p, display=display, size_bytes=p.stat().st_size, identity=f"stdin:{digest.hexdigest()}", temporary=True
    )


class _EndsAtTruncation(io.RawIOBase):
    """A gzip stream that ends where its data ends: a file cut short yields every complete byte it has (the
    parser then rejects the cut-off last record by its line) instead of failing the whole file."""

    def __init__(self, gz, src: SourceFile):
        self._gz = gz
        self._src = src

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._gz.read1(len(buffer))
        except EOFError:
            self._src.truncated = True
            return 0
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._gz.close()
        super().close()

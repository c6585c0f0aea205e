"""Turning the paths a user gives into readable files: directories, globs, stdin, gzip, BOMs."""

from __future__ import annotations

import glob
import gzip
import io
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ..errors import PlanError

SKIP_NAMES = {".DS_Store", "Thumbs.db"}


@dataclass
class SourceFile:
    path: Path
    display: str
    size_bytes: int = 0
    _head: bytes | None = field(default=None, repr=False)

    @property
    def is_gzip(self) -> bool:
        with open(self.path, "rb") as fh:
            return fh.read(2) == b"\x1f\x8b"

    @property
    def name(self) -> str:
        """File name without a trailing .gz, for detection by extension."""
        name = self.path.name if self.display == "<stdin>" else Path(self.display).name
        return name[:-3] if name.lower().endswith(".gz") else name

    def open_binary(self):
        if self.is_gzip:
            return gzip.open(self.path, "rb")
        return open(self.path, "rb")

    def head(self, size: int = 65536) -> bytes:
        """The first bytes, decompressed, BOM stripped: what format detection looks at."""
        if self._head is None:
            with self.open_binary() as fh:
                data = fh.read(size)
            self._head = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        return self._head

    def open_text(self):
        """Text stream with a UTF-8 byte-order mark removed and undecodable bytes replaced."""
        return io.TextIOWrapper(self.open_binary(), encoding="utf-8-sig", errors="replace", newline="")

    def lines(self) -> Iterator[tuple[int, str]]:
        """(1-based line number, line text without newline); blank lines are skipped."""
        with self.open_text() as fh:
            for number, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if line.strip():
                    yield number, line

    def read_text(self) -> str:
        with self.open_text() as fh:
            return fh.read()


def expand_paths(paths: list[str], stdin=None) -> list[SourceFile]:
    """Files, directories (recursive), globs and '-' for stdin, in a stable order, each once."""
    found: list[SourceFile] = []
    seen: set[Path] = set()

    def add(p: Path, display: str | None = None):
        rp = p.resolve()
        if rp in seen or p.name in SKIP_NAMES or p.name.startswith("."):
            return
        seen.add(rp)
        found.append(SourceFile(path=p, display=display or str(p), size_bytes=p.stat().st_size))

    for raw in paths:
        if raw == "-":
            found.append(_spool_stdin(stdin))
            continue
        p = Path(raw)
        if p.is_dir():
            for child in sorted(x for x in p.rglob("*") if x.is_file()):
                if not any(part.startswith(".") for part in child.relative_to(p).parts):
                    add(child)
        elif p.is_file():
            add(p)
        elif any(ch in raw for ch in "*?["):
            matches = sorted(glob.glob(raw, recursive=True))
            if not matches:
                raise PlanError(f"No files match {raw}.")
            for m in matches:
                mp = Path(m)
                if mp.is_file():
                    add(mp)
                elif mp.is_dir():
                    found.extend(f for f in expand_paths([m]) if f.path.resolve() not in seen)
        else:
            raise PlanError(f"{raw}: no such file or directory.")
    return found


def _spool_stdin(stdin=None) -> SourceFile:
    stream = stdin if stdin is not None else sys.stdin.buffer
    if hasattr(stream, "buffer"):
        stream = stream.buffer
    tmp = tempfile.NamedTemporaryFile(prefix="plan-stdin-", delete=False)
    with tmp:
        shutil.copyfileobj(stream, tmp)
    os.chmod(tmp.name, 0o600)
    p = Path(tmp.name)
    return SourceFile(path=p, display="<stdin>", size_bytes=p.stat().st_size)

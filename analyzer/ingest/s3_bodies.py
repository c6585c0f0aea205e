"""Bedrock request and response bodies written beside the log as objects of their own.

Bedrock logs a body larger than about 100 KB (or a binary one) as a separate S3 object and names it in the record
(``input.inputBodyS3Path``, ``output.outputBodyS3Path``) instead of the inline body. ``BodyObjects`` reads such an
object for the Bedrock parser, which then reads it exactly as an inline body:

1. a log read from object storage: the object through the same filesystem, so the same credentials and endpoint;
2. a local log (``aws s3 sync`` of the bucket): a local copy under the folders being ingested, the file whose path
   ends with the longest run of the key's trailing parts (the bucket name is usually not in the local path); the
   index of local files is built once, when the first record needs it;
3. otherwise nothing: a local ingest never starts talking to AWS. The record keeps its tokens and cost, and is
   counted.

From the bucket, the bodies of the next records are fetched together (``FileBodies.read_ahead``): one request at a
time would make a day of long-document traffic wait out a round trip per body.

``FileBodies`` counts one log file's records for the ``s3_bodies`` entry of ``plan ingest --json``, with one
sentence on the records whose bodies stayed unread and how to read them. A body object read here is not a log
file itself: ``claimed_by`` tells the ingest core to skip it when a listing or a folder also holds it.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeGuard, TypeVar

from .records import loads
from .remote import SCHEMES, RemoteObject, scheme_of
from .sources import BOM, URL, SourceFile

BODY_FORMAT = "bedrock-body"  # the format named for a body object that a folder or listing also holds
BODY_FIELDS = {"inputBodyS3Path": "prompt", "outputBodyS3Path": "response"}
_S3_URL = re.compile(r"^s3a?://([^/]+)/(.+)$", re.I)
READ_AHEAD = 64  # records whose bodies are fetched from the bucket together (s3fs runs the requests concurrently)
Item = TypeVar("Item")

NO_COPY = "no copy here"
NOT_FOUND = "not found"
DENIED = "access denied"
NOT_JSON = "not JSON"
SEVERAL_COPIES = "several local copies"
UNREADABLE = "unreadable"
NOT_S3_URL = "not an s3:// URL"


class BodyUnread(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def local_roots(paths: Iterable[str]) -> list[Path]:
    """The local folders a run ingests: a folder given, a file's folder, a glob's fixed leading folder."""
    roots = []
    for raw in paths:
        if raw == "-" or URL.match(raw):
            continue
        path = Path(raw)
        if path.is_dir():
            roots.append(path)
        elif path.is_file():
            roots.append(path.parent)
        elif any(ch in raw for ch in "*?["):
            fixed = raw[: min(raw.find(ch) for ch in "*?[" if ch in raw)]
            roots.append(Path(fixed if fixed.endswith(("/", os.sep)) else os.path.dirname(fixed) or "."))
    return roots


def parse_body(data: bytes) -> Any:
    """A body object's value: JSON, gzip-compressed or not (told by its first bytes), or JSON Lines of stream
    events (read as the list of events an inline streamed body is)."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise BodyUnread(UNREADABLE, f"damaged gzip: {exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyUnread(NOT_JSON) from None
    text = text[1:] if text.startswith(BOM.decode("utf-8")) else text
    try:
        return loads(text)
    except ValueError:
        pass
    events = []
    for line in text.splitlines():
        if line.strip():
            try:
                events.append(loads(line))
            except ValueError:
                raise BodyUnread(NOT_JSON) from None
    if not events:
        raise BodyUnread(NOT_JSON)
    return events


def _common_suffix(left: tuple, right: list) -> int:
    count = 0
    for a, b in zip(reversed(left), reversed(right), strict=False):
        if a != b:
            break
        count += 1
    return count


class BodyObjects:
    """The body objects of one ``plan ingest`` run: read for the Bedrock parser, remembered once read."""

    def __init__(self, roots: Iterable[Path] = ()):
        self.roots = list(roots)
        self._by_name: dict[str, list[Path]] | None = None
        self._claimed: dict[str, str] = {}  # identity of a body object read -> the log file it was read for
        self._fetched: dict[str, bytes | BaseException] = {}  # fetched ahead of their records, taken once read
        self.files: dict[str, FileBodies] = {}

    def for_file(self, src: SourceFile) -> FileBodies:
        """The counts of one log file (a fresh start when the file is read again)."""
        self.files[src.display] = FileBodies(self, src)
        return self.files[src.display]

    def report(self, display: str) -> dict | None:
        found = self.files.get(display)
        return found.report() if found is not None else None

    def claimed_by(self, src: SourceFile) -> str | None:
        """The log file a record of which this file (or object) was read as the body of, if any."""
        return self._claimed.get(src.identity)

    def read(self, url: str, log: SourceFile) -> Any:
        """The body at ``url`` (``s3://bucket/key``) named by a record of ``log``; BodyUnread says why not."""
        match = _S3_URL.match(url.strip())
        if not match:
            raise BodyUnread(NOT_S3_URL)
        bucket, key = match.group(1), match.group(2)
        if _in_bucket(log):
            identity = f"s3://{bucket}/{key}"
            got = self._fetched.pop(identity, None)
            data = _fetch(log.fetcher.fs, f"{bucket}/{key}") if got is None else _bytes_or_unread(got)
        else:
            path = self._local_copy(key)
            identity = str(path)
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise BodyUnread(UNREADABLE, exc.strerror or str(exc)) from None
        self._claimed[identity] = log.display  # a body, readable or not: not a log file of its own
        return parse_body(data)

    def fetch_ahead(self, urls: list[str], log: RemoteObject) -> None:
        """Fetch the bodies at ``urls`` from ``log``'s bucket in one concurrent batch, for ``read`` to take."""
        self._fetched.clear()  # the records of the batch before were all read by now
        paths = {}
        for url in urls:
            match = _S3_URL.match(str(url).strip())
            if match:
                paths[f"{match.group(1)}/{match.group(2)}"] = f"s3://{match.group(1)}/{match.group(2)}"
        if not paths:
            return
        try:
            got = log.fetcher.fs.cat(list(paths), on_error="return")
        except Exception:  # the batch failed as a whole: each body is then fetched, and judged, on its own
            return
        for path, value in got.items():
            identity = paths.get(path.removeprefix("s3://"))
            if identity is not None:
                self._fetched[identity] = value

    def _local_copy(self, key: str) -> Path:
        parts = [p for p in key.split("/") if p]
        candidates = self._index().get(parts[-1], []) if parts else []
        if not candidates:
            raise BodyUnread(NO_COPY)
        scored = sorted(((_common_suffix(c.parts, parts), c) for c in candidates), key=lambda s: -s[0])
        if len(scored) > 1 and scored[0][0] == scored[1][0]:
            raise BodyUnread(SEVERAL_COPIES)
        return scored[0][1]

    def _index(self) -> dict[str, list[Path]]:
        """Every visible file under the local roots, by name (built on first use: most runs never need it)."""
        if self._by_name is None:
            self._by_name = {}
            seen: set[Path] = set()
            for root in self.roots:
                for folder, dirs, names in os.walk(root.resolve()):
                    dirs[:] = [d for d in dirs if not d.startswith(".")]
                    for name in names:
                        path = Path(folder, name)
                        if not name.startswith(".") and path not in seen:
                            seen.add(path)
                            self._by_name.setdefault(name, []).append(path)
        return self._by_name


def _in_bucket(log: SourceFile) -> TypeGuard[RemoteObject]:
    return isinstance(log, RemoteObject) and SCHEMES.get(scheme_of(log.fetcher.url)) == "s3"


def _fetch(fs, path: str) -> bytes:
    try:
        return fs.cat_file(path)
    except Exception as exc:
        return _bytes_or_unread(exc)


def _bytes_or_unread(got: bytes | BaseException) -> bytes:
    """A body fetched, or the reason it was not: storage libraries raise their own kinds of error, and the record
    still lands without that text."""
    if not isinstance(got, BaseException):
        return got
    if isinstance(got, FileNotFoundError):
        raise BodyUnread(NOT_FOUND) from None
    if isinstance(got, PermissionError):
        raise BodyUnread(DENIED) from None
    if not isinstance(got, Exception):
        raise got
    text = str(got).split("\n")[0][:200]
    raise BodyUnread(DENIED if "AccessDenied" in text or "Forbidden" in text else UNREADABLE, text) from None


@dataclass
class FileBodies:
    """One log file's records whose bodies are beside the log: how many were read, and why the others were not."""

    objects: BodyObjects
    log: SourceFile
    records: int = 0
    read: int = 0
    unread: Counter = field(default_factory=Counter)  # reason -> records
    unread_fields: set = field(default_factory=set)
    details: dict = field(default_factory=dict)  # reason -> the first error text given with it
    example_url: str | None = None

    def read_ahead(self, items: Iterable[Item], urls_of: Callable[[Item], list[str]]) -> Iterator[Item]:
        """``items`` as they come, the bodies of the next ``READ_AHEAD`` of them fetched together from the bucket
        first (a log read from a local folder is yielded as it is)."""
        if not _in_bucket(self.log):
            yield from items
            return
        batch: list[Item] = []
        for item in items:
            batch.append(item)
            if len(batch) == READ_AHEAD:
                self.objects.fetch_ahead([url for one in batch for url in urls_of(one)], self.log)
                yield from batch
                batch = []
        self.objects.fetch_ahead([url for one in batch for url in urls_of(one)], self.log)
        yield from batch

    def read_record(self, urls: dict[str, str]) -> dict[str, Any]:
        """The bodies one record names (``inputBodyS3Path``/``outputBodyS3Path`` -> URL) that could be read."""
        self.records += 1
        bodies: dict[str, Any] = {}
        failed: BodyUnread | None = None
        for name, url in urls.items():
            try:
                bodies[name] = self.objects.read(str(url), self.log)
            except BodyUnread as exc:
                failed = failed or exc
                self.unread_fields.add(name)
                self.example_url = self.example_url or str(url)
        if failed is None:
            self.read += 1
        else:
            self.unread[failed.reason] += 1
            self.details.setdefault(failed.reason, failed.detail)
        return bodies

    def report(self) -> dict | None:
        """The file's ``s3_bodies`` entry in ``plan ingest --json``; None when no record had a body beside the log."""
        if not self.records:
            return None
        return {"records": self.records, "read": self.read, "unread": sum(self.unread.values()),
                "unread_reasons": dict(self.unread.most_common()), "note": self.sentence()}

    def sentence(self) -> str | None:
        """'12 records keep their prompt in S3 beside the log (inputBodyS3Path); ingest the bucket (...) ...'."""
        unread = sum(self.unread.values())
        if not unread:
            return None
        fields = [name for name in BODY_FIELDS if name in self.unread_fields]
        what = " or ".join(BODY_FIELDS[name] for name in fields)
        if unread < self.records:
            head = f"{unread:,} of {self.records:,} records keep their"
        else:
            head = "1 record keeps its" if unread == 1 else f"{unread:,} records keep their"
        head = f"{head} {what} in S3 beside the log ({', '.join(fields)})"
        reasons = self.unread.most_common()
        if len(reasons) == 1:
            return f"{head}; {self._remedy(reasons[0][0])}."
        return f"{head}; " + "; ".join(f"{count:,} of them: {self._remedy(reason)}" for reason, count in reasons) + "."

    def _remedy(self, reason: str) -> str:
        if reason == NO_COPY:
            return f"ingest the bucket (plan ingest {_bucket_prefix(self.example_url)}) or a local copy of it to read them"
        detail = self.details.get(reason)
        return {
            NOT_FOUND: "the objects named do not exist (deleted, or expired by a lifecycle rule), so that text is not stored",
            DENIED: "the credentials in use may not read them (they need s3:GetObject on the objects named)",
            NOT_JSON: "the objects are not JSON (an image or other binary body), so that text is not stored",
            SEVERAL_COPIES: "several local files match each object named equally well; ingest a folder holding one copy",
            NOT_S3_URL: "the paths named are not s3:// URLs, so that text is not stored",
        }.get(reason, f"the objects could not be read ({detail or reason})")


def _bucket_prefix(url: str | None) -> str:
    """s3://bucket/AWSLogs/ for a body object under Bedrock's AWSLogs/ folder, else s3://bucket/."""
    match = _S3_URL.match(url or "")
    if not match:
        return "s3://BUCKET/"
    key = match.group(2)
    head = key[: key.find("AWSLogs/") + len("AWSLogs/")] if "AWSLogs/" in key else ""
    return f"s3://{match.group(1)}/{head}"

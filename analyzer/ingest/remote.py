"""Logs where they live: ``s3://``, ``gs://`` and ``az://`` prefixes read like local files.

Entry point: ``RemoteObjects(con, settings, fmt=..., say=...)``, whose ``expand(url)`` is handed to
``expand_paths`` and returns one ``RemoteObject`` (a ``SourceFile``) per object to read. The steps:

1. ``open_filesystem``: the fsspec filesystem of the URL's scheme (s3fs, gcsfs, adlfs: the ``cloud`` extra), with
   credentials from each cloud's standard chain (environment, profiles, instance or workload roles). plan never
   reads, passes or stores a secret itself; only a custom S3 endpoint (MinIO, moto) may be named.
2. ``list_objects``: the prefix listed recursively (or a glob, or one object), hidden names left out, with each
   object's size, time and version tag; ``--since`` drops objects last modified before it.
3. ``RemoteObjects.expand``: objects whose URL, size and tag match a row of ``ingested_files`` were read by an
   earlier run and are skipped without a download.
4. ``ObjectFetcher``: format detection reads each object's first bytes with one ranged GET (gzip is recognised by
   its content and decompressed as far as detection looks). When the ingest core starts on an object, it is
   downloaded into a private temporary folder together with the next few, in parallel, and removed once the core
   moves on, so every reader (fast SQL route, Parquet, SQLite) sees an ordinary file and disk use stays at a few
   objects.

Errors a user can fix are one sentence each (``explain``): no credentials, access denied, bucket not found.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import threading
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path, PurePosixPath
from typing import Callable

from ..errors import PlanError
from ..progress import say_nothing
from . import IngestSettings
from .records import to_utc
from .sources import BOM, SourceFile, through_first_record

SCHEMES = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "az", "abfs": "az", "abfss": "az"}
CANONICAL = {"s3": "s3", "gcs": "gs", "az": "az"}  # how object URLs are shown and stored, whichever alias was typed
PACKAGES = {"s3": "s3fs", "gcs": "gcsfs", "az": "adlfs"}
CLOUD_NAMES = {"s3": "AWS", "gcs": "Google Cloud", "az": "Azure"}
HEAD_BYTES = 65536  # what format detection looks at (SourceFile.head)
HEAD_RANGE = 1 << 16  # bytes per ranged GET for a head; gzip'd JSON inflates ~10x, so one GET is the rule
HEAD_MAX_RANGE = 4 << 20  # stop inflating a head after this many compressed bytes
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$", re.I)
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value) -> datetime:
    """``--since``: a date (2025-03-01), a time (2025-03-01T12:00Z; UTC unless it says otherwise) or an age
    (30m, 12h, 7d, 2w). Returns naive UTC, like every timestamp in the store."""
    if isinstance(value, datetime):
        return to_utc(value)  # type: ignore[return-value]
    text = str(value).strip()
    age = _AGE.match(text)
    if age:
        delta = timedelta(**{_AGE_UNITS[age.group(2).lower()]: float(age.group(1))})
        return datetime.now(timezone.utc).replace(tzinfo=None) - delta
    if not re.match(r"^\d{4}-\d\d-\d\d", text):
        raise ValueError("expected a date (2025-03-01), a time (2025-03-01T12:00Z) or an age (12h, 7d)")
    try:
        return to_utc(text)  # type: ignore[return-value]
    except ValueError:
        raise ValueError("expected a date (2025-03-01), a time (2025-03-01T12:00Z) or an age (12h, 7d)") from None


# The object-storage settings are fields of IngestSettings (since, s3_endpoint_url, fetch_ahead): one settings
# object per stage.
RemoteSettings = IngestSettings


def s3_endpoint(settings: RemoteSettings) -> str | None:
    """AWS_ENDPOINT_URL_S3 > AWS_ENDPOINT_URL > plan.toml ``ingest.s3_endpoint_url``; None: AWS's default."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        if os.environ.get(name):
            return os.environ[name]
    return settings.s3_endpoint_url


def scheme_of(url: str) -> str:
    return url.split("://", 1)[0].lower()


def is_remote(path: str) -> bool:
    return "://" in path and scheme_of(path) in SCHEMES


# ---------------------------------------------------------------------------------------------
# Errors: one sentence each
# ---------------------------------------------------------------------------------------------


def _storage_root(url: str) -> str:
    """s3://bucket of s3://bucket/prefix/ (the container of az://container@account/...)."""
    rest = url.partition("://")[2]
    return f"{CANONICAL[SCHEMES.get(scheme_of(url), 's3')]}://{rest.split('/', 1)[0].split('@', 1)[0]}"


def _causes(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]


_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError", "CredentialUnavailableError"}
_DENIED = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"}
_UNREACHABLE = {"EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError", "ServiceRequestError"}


def explain(exc: BaseException, url: str, *, listing: bool = True) -> PlanError | None:
    """The sentence for an error from a storage library, or None when it is not one a user can act on.
    ``listing``: raised while listing (a missing path there is a missing bucket) rather than while downloading."""
    kind = SCHEMES.get(scheme_of(url), "s3")
    causes = list(_causes(exc))
    names = {type(e).__name__ for e in causes}
    text = " ".join(str(e) for e in causes)
    # Azure reports a refusal (403) and a failed sign-in alike as ClientAuthenticationError; gcsfs a 403 as
    # OSError("Forbidden: ...").
    denied = (isinstance(exc, PermissionError) or bool(names & _DENIED) or text.startswith("Forbidden")
              or any(getattr(e, "status_code", None) == 403 for e in causes))
    if names & _NO_CREDENTIALS or ("ClientAuthenticationError" in names and not denied):
        return PlanError(no_credentials(kind, url))
    if "Must provide either a connection_string or account_name" in text:
        return PlanError(
            f"No Azure storage account for {url}: set AZURE_STORAGE_ACCOUNT_NAME (or AZURE_STORAGE_CONNECTION_STRING), "
            "or write the URL as az://CONTAINER@ACCOUNT.blob.core.windows.net/PATH."
        )
    if denied:
        needs = {"s3": "s3:ListBucket and s3:GetObject", "gcs": "storage.objects.list and storage.objects.get",
                 "az": "the Storage Blob Data Reader role"}[kind]
        reason = str(exc).strip().split("\n")[0][:200] or "forbidden"
        return PlanError(f"Access denied to {url} ({reason}): the credentials in use need {needs} on it.")
    if isinstance(exc, FileNotFoundError) and (listing or re.search(r"bucket|container", text, re.I)):
        word = "Container" if kind == "az" else "Bucket"
        return PlanError(f"{word} not found: {_storage_root(url)} does not exist (check its name, account and endpoint).")
    if isinstance(exc, FileNotFoundError):
        return PlanError(f"{url} was deleted or replaced after it was listed; run plan ingest again to pick up the change.")
    if names & _UNREACHABLE:
        return PlanError(f"Cannot reach the storage service for {url} ({exc}): check the network, or the endpoint.")
    return None


def no_credentials(kind: str, url: str) -> str:
    how = {
        "s3": "set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance or task role applies",
        "gcs": "set GOOGLE_APPLICATION_CREDENTIALS or run `gcloud auth application-default login`",
        "az": "set AZURE_STORAGE_CONNECTION_STRING, a key, SAS token or service principal (AZURE_STORAGE_*), or run `az login`",
    }[kind]
    return f"No {CLOUD_NAMES[kind]} credentials found for {url}: {how}."


# ---------------------------------------------------------------------------------------------
# Filesystems and listing
# ---------------------------------------------------------------------------------------------


def open_filesystem(url: str, settings: RemoteSettings):
    """(fsspec filesystem, path inside it) for a URL. Fresh instances: fsspec would otherwise hand back a cached
    filesystem, and with it a stale listing of a prefix that changed since."""
    scheme = scheme_of(url)
    kind = SCHEMES.get(scheme)
    if kind is None:
        raise PlanError(f"{url}: plan reads s3://, gs:// and az:// URLs; download other URLs and ingest the files.")
    try:
        import fsspec
        import fsspec.core

        fsspec.get_filesystem_class(kind)
    except ImportError:
        raise PlanError(
            f"{url}: reading {scheme}:// needs the {PACKAGES[kind]} package: pip install 'plan-analyzer[cloud]'."
        ) from None
    options: dict = {"skip_instance_cache": True}
    if kind == "s3":
        options["use_listings_cache"] = False
        endpoint = s3_endpoint(settings)
        if endpoint is not None:
            options["client_kwargs"] = {"endpoint_url": endpoint}
    elif kind == "gcs":
        # google.auth's default chain (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server); not gcsfs's
        # silent fall-back to anonymous access, which turns "no credentials" into a puzzling 401. The emulator
        # (STORAGE_EMULATOR_HOST, honoured by gcsfs) takes no credentials.
        options["token"] = "anon" if os.environ.get("STORAGE_EMULATOR_HOST") else "google_default"
    for noisy in ("azure", "google.auth", "gcsfs"):  # they print each credential they tried; the sentence says it
        logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        fs, path = fsspec.core.url_to_fs(kind + "://" + url.split("://", 1)[1], **options)
        if kind == "az" and getattr(fs, "sync_credential", None) is not None:
            # Azure's default chain is asked once, here: the storage client would ask it again on every retry of
            # every call (minutes, with its backoff) before saying there are no credentials.
            fs.sync_credential.get_token("https://storage.azure.com/.default")
    except Exception as exc:
        raise explain(exc, url) or PlanError(f"{url}: cannot open ({exc}).") from None
    return fs, path


@dataclass
class ObjectInfo:
    path: str  # inside the filesystem: bucket/key
    url: str
    size: int
    modified: datetime | None  # naive UTC
    version: str | None


def _modified(info: dict) -> datetime | None:
    for key in ("LastModified", "last_modified", "updated", "mtime", "timeCreated", "creation_time"):
        value = info.get(key)
        if value not in (None, ""):
            try:
                return to_utc(value)
            except ValueError:
                continue
    return None


def _version(info: dict) -> str | None:
    """The tag that changes when an object's content does: version id, generation or ETag."""
    for key, label in (("VersionId", "version"), ("version_id", "version"), ("generation", "generation"),
                       ("ETag", "etag"), ("etag", "etag")):
        value = info.get(key)
        if value not in (None, "", "null"):
            return f"{label}:{str(value).strip(chr(34))}"
    return None


def _hidden(path: str, base: str) -> bool:
    rest = path[len(base):] if path.startswith(base) else PurePosixPath(path).name
    return any(part.startswith(".") for part in rest.split("/") if part) or path.endswith("/")


def list_objects(fs, path: str, url: str) -> list[ObjectInfo]:
    """Every object under a prefix (recursively), matching a glob, or the one object named; sorted by key."""
    try:
        if any(ch in path for ch in "*?["):
            found = {}
            for name, info in fs.glob(path, detail=True).items():
                if info.get("type") == "directory":
                    found.update(fs.find(name, detail=True))
                else:
                    found[name] = info
            base = path[: min(path.find(ch) for ch in "*?[" if ch in path)].rsplit("/", 1)[0] + "/"
        else:
            found = fs.find(path, detail=True)
            base = path.rstrip("/") + "/"
    except Exception as exc:
        raise explain(exc, url) or PlanError(f"{url}: cannot list ({exc}).") from None
    objects = []
    for name in sorted(found):
        info = found[name]
        if info.get("type") == "directory" or _hidden(name, base):
            continue
        objects.append(ObjectInfo(
            path=name, url=f"{CANONICAL[SCHEMES[scheme_of(url)]]}://{name}",
            size=int(info.get("size") or 0), modified=_modified(info), version=_version(info),
        ))
    return objects


# ---------------------------------------------------------------------------------------------
# Objects as source files
# ---------------------------------------------------------------------------------------------


class _Ranges:
    """An object read on from ``at`` by ranged GETs, for a head that must run past its first range."""

    def __init__(self, fs, path: str, at: int, size: int):
        self.fs, self.path, self.at, self.size = fs, path, at, size

    def read(self, n: int) -> bytes:
        end = min(self.at + n, self.size)
        if end <= self.at:
            return b""
        data = self.fs.cat_file(self.path, start=self.at, end=end)
        self.at = end
        return data


class RemoteObject(SourceFile):
    """An object in storage, read by the ingest core like a file: ``head()`` from a ranged read, the body from a
    local copy that the fetcher downloads when the core starts on it (the cue: it sets ``on_read``)."""

    def __init__(self, info: ObjectInfo, fetcher: ObjectFetcher, index: int, listing: Listing, explicit: bool):
        self.fetcher = fetcher
        self.index = index
        self.info = info
        self.listing = listing
        self.local: Path | None = None
        super().__init__(
            path=fetcher.folder / f"{index:08d}", display=info.url, size_bytes=info.size, explicit=explicit,
            identity=info.url, version=info.version,
        )

    @property
    def on_read(self):
        return self._on_read

    @on_read.setter
    def on_read(self, hook) -> None:
        self._on_read = hook
        if hook is not None and hasattr(self, "fetcher"):
            self.fetcher.start(self)

    @property
    def is_gzip(self) -> bool:
        if self.local is not None:
            return SourceFile.is_gzip.fget(self)  # type: ignore[attr-defined]
        if self._gzip is None:
            self.head()
        return bool(self._gzip)

    def head(self, size: int = HEAD_BYTES) -> bytes:
        if self.local is None:
            return self.fetcher.head(self)
        return super().head(size)

    def open_binary(self):
        if self.local is None:
            self.fetcher.start(self)
        return super().open_binary()

    def settled(self) -> bool:
        return self.local is not None  # a finished download, private to this run: safe to map into memory

    def release(self) -> None:
        """Forget the local copy and what was read from it (its file is deleted by the fetcher)."""
        self.local = None
        self._head = None


@dataclass
class Listing:
    """What one URL expanded to: the counts shown to the user and kept in the ``--json`` summary."""

    url: str
    listed: int = 0
    listed_bytes: int = 0
    unchanged: int = 0
    before_since: int = 0
    to_read: int = 0
    to_read_bytes: int = 0


class ObjectFetcher:
    """Ranged reads for heads and whole downloads for bodies, a few objects ahead, in a private folder."""

    def __init__(self, fs, url: str, ahead: int):
        self.fs = fs
        self.url = url
        self.ahead = ahead
        self.objects: list[RemoteObject] = []
        self.folder = Path(tempfile.mkdtemp(prefix="plan-objects-"))  # mode 0700: prompts stay private
        self._pool = ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="plan-fetch")
        self._heads: dict[int, Future] = {}
        self._bodies: dict[int, Future] = {}
        self._current: RemoteObject | None = None
        self._done: set[int] = set()  # objects the core has finished with
        self._lock = threading.Lock()

    # -- heads: format detection walks the objects in order, so the next few are read while one is sniffed --
    def head(self, obj: RemoteObject) -> bytes:
        with self._lock:
            for index in [i for i in self._heads if i < obj.index]:
                del self._heads[index]
            for other in self.objects[obj.index: obj.index + self.ahead]:
                if other.index not in self._heads and other.local is None:
                    self._heads[other.index] = self._pool.submit(self._read_head, other)
            future = self._heads.get(obj.index) or self._pool.submit(self._read_head, obj)
        head, gzip = self._result(future, obj)
        obj._gzip = gzip
        return head

    def _read_head(self, obj: RemoteObject) -> tuple[bytes, bool]:
        if obj.size_bytes == 0:
            return b"", False
        raw = self.fs.cat_file(obj.info.path, start=0, end=min(HEAD_RANGE, obj.size_bytes))
        if raw[:2] != b"\x1f\x8b":
            data = raw[:HEAD_BYTES]
            if len(data) == HEAD_BYTES and obj.size_bytes > HEAD_BYTES:  # a first record longer than the head
                data = through_first_record(_Ranges(self.fs, obj.info.path, HEAD_BYTES, obj.size_bytes), data)
            return (data[3:] if data.startswith(BOM) else data), False
        inflate = zlib.decompressobj(wbits=31)
        out = b""
        got = len(raw)
        while True:
            try:
                out += inflate.decompress(raw, HEAD_BYTES + 3 - len(out))
            except zlib.error:
                break  # not gzip after all, or damaged: the reader will say so with the file and line
            if len(out) >= HEAD_BYTES + 3:
                break
            if inflate.eof:  # one member ended; gzip files may hold several, one after the other
                raw, inflate = inflate.unused_data, zlib.decompressobj(wbits=31)
                if raw:
                    continue
            else:
                raw = inflate.unconsumed_tail
            if got >= min(obj.size_bytes, HEAD_MAX_RANGE):
                break
            raw += self.fs.cat_file(obj.info.path, start=got, end=min(got + HEAD_RANGE, obj.size_bytes))
            got = min(got + HEAD_RANGE, obj.size_bytes)
        out = out[3:] if out.startswith(BOM) else out
        return out[:HEAD_BYTES], True

    # -- bodies --------------------------------------------------------------------------------
    def start(self, obj: RemoteObject) -> None:
        """The core starts on ``obj``: delete the copies it is done with, download it and the next few."""
        with self._lock:
            if self._current is not obj:
                previous, self._current = self._current, obj
                if previous is not None:
                    self._drop(previous)
            self._heads.clear()
            self._done.discard(obj.index)
            for other in [obj] + self.objects[obj.index + 1: obj.index + 1 + self.ahead]:
                if other.index not in self._bodies and other.index not in self._done:
                    self._bodies[other.index] = self._pool.submit(self._download, other)
            future = self._bodies[obj.index]
        obj.local = self._result(future, obj)
        obj.path = obj.local

    def _download(self, obj: RemoteObject) -> Path:
        target = self.folder / f"{obj.index:08d}"
        self.fs.get_file(obj.info.path, str(target))
        if obj.info.modified is not None:  # the copy carries the object's time
            stamp = obj.info.modified.replace(tzinfo=timezone.utc).timestamp()
            os.utime(target, (stamp, stamp))
        return target

    def skip(self, obj: RemoteObject) -> None:
        """The core will not read ``obj``: a copy downloaded ahead of it is deleted now, not at the end of the run."""
        with self._lock:
            self._drop(obj)

    def _drop(self, obj: RemoteObject) -> None:
        self._done.add(obj.index)
        future = self._bodies.pop(obj.index, None)
        obj.release()
        if future is not None:
            future.add_done_callback(lambda f: _unlink(self.folder / f"{obj.index:08d}"))

    def _result(self, future: Future, obj: RemoteObject):
        try:
            return future.result()
        except PlanError:
            raise
        except Exception as exc:
            explained = explain(exc, obj.display, listing=False)
            raise OSError(str(explained) if explained else f"download failed: {exc}") from None

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self.folder, ignore_errors=True)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


# ---------------------------------------------------------------------------------------------
# Entry: expanding URLs for the ingest core
# ---------------------------------------------------------------------------------------------


class RemoteObjects:
    """Expands URLs into objects to read for one ``plan ingest`` run; ``close()`` deletes every local copy."""

    def __init__(self, con, settings: RemoteSettings, *, fmt: str | None = None, say: Callable[[str], object] = say_nothing):
        self.con = con
        self.settings = settings
        self.fmt = fmt
        self.say = say
        self.listings: list[Listing] = []
        self.fetchers: list[ObjectFetcher] = []
        self.local_before_since = 0
        self.unchanged_urls: list[str] = []  # objects read before and skipped: --sample-rate still applies to them

    def expand(self, url: str) -> list[RemoteObject]:
        fs, path = open_filesystem(url, self.settings)
        self.say(f"{url}: listing objects...")
        found = list_objects(fs, path, url)
        if not found:
            raise PlanError(f"No objects found at {url} (the {_bucket_word(url)} exists; check the prefix, which is read "
                            "up to a '/': add * for part of a name).")
        listing = Listing(url=url, listed=len(found), listed_bytes=sum(o.size for o in found))
        self.listings.append(listing)
        since = self.settings.since
        if since is not None:
            found = [o for o in found if o.modified is None or o.modified >= since]
            listing.before_since = listing.listed - len(found)
        read_before = self._already_read(url)
        fresh = [o for o in found if (o.url, o.version, o.size) not in read_before]
        listing.unchanged = len(found) - len(fresh)
        self.unchanged_urls.extend(o.url for o in found if (o.url, o.version, o.size) in read_before)
        listing.to_read, listing.to_read_bytes = len(fresh), sum(o.size for o in fresh)
        self.say(_listing_sentence(listing, since))
        fetcher = ObjectFetcher(fs, url, self.settings.fetch_ahead)
        self.fetchers.append(fetcher)
        explicit = len(found) == 1 and found[0].path.rstrip("/") == path.rstrip("/")
        fetcher.objects = [RemoteObject(o, fetcher, i, listing, explicit) for i, o in enumerate(fresh)]
        return list(fetcher.objects)

    def _already_read(self, url: str) -> set[tuple]:
        """(url, version, size) of objects under this bucket that an earlier run read, with the same --format."""
        rows = self.con.execute(
            """select distinct path, object_version, size_bytes from ingested_files
               where object_version is not null and starts_with(path, ?)
                 and (?::varchar is null or source_format in (?, 'empty'))""",
            [_storage_root(url) + "/", self.fmt, self.fmt],
        ).fetchall()
        return {(p, v, s) for p, v, s in rows}

    def since_filter(self, sources: list[SourceFile]) -> list[SourceFile]:
        """Local files last modified before --since are left out too (stdin and pipes never are)."""
        since = self.settings.since
        if since is None:
            return sources
        kept = []
        for src in sources:
            if not isinstance(src, RemoteObject) and not src.temporary:
                modified = datetime.fromtimestamp(os.stat(src.path).st_mtime, tz=timezone.utc).replace(tzinfo=None)
                if modified < since:
                    self.local_before_since += 1
                    continue
            kept.append(src)
        return kept

    def summary(self) -> dict:
        """Keys added to the ``plan ingest --json`` summary."""
        since = self.settings.since
        return {
            "since": since.isoformat(timespec="seconds") + "Z" if since is not None else None,  # an age, resolved
            "files_skipped_unchanged": sum(x.unchanged for x in self.listings),
            "files_skipped_since": sum(x.before_since for x in self.listings) + self.local_before_since,
            "objects": [vars(x) for x in self.listings],
        }

    def close(self) -> None:
        for fetcher in self.fetchers:
            fetcher.close()


def _bucket_word(url: str) -> str:
    return "container" if SCHEMES.get(scheme_of(url)) == "az" else "bucket"


def _listing_sentence(listing: Listing, since: datetime | None) -> str:
    parts = [f"{listing.url}: {listing.listed:,} objects ({_size(listing.listed_bytes)})"]
    if listing.before_since:
        parts.append(f"{listing.before_since:,} last modified before {since:%Y-%m-%d %H:%M} UTC")
    if listing.unchanged:
        parts.append(f"{listing.unchanged:,} read before and unchanged")
    parts.append(f"{listing.to_read:,} to read ({_size(listing.to_read_bytes)})")
    return "; ".join(parts) + "."


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return f"{n} TB"


class ObjectsProgress:
    """One progress bar per listing: bytes read of the total, objects done of the count. ``track(src)`` is the
    per-file bar the ingest core asks for (``update(n)``, ``reset()``, ``close()``)."""

    def __init__(self, make_bar: Callable[..., object]):
        self.make_bar = make_bar
        self.bars: dict[int, tuple[object, list[int]]] = {}

    def track(self, src: RemoteObject):
        listing = src.listing
        if id(listing) not in self.bars:
            bar = self.make_bar(total=listing.to_read_bytes or None, desc=self._desc(listing, 0), unit="B", unit_scale=True)
            self.bars[id(listing)] = (bar, [0])
        bar, done = self.bars[id(listing)]
        return _ObjectBar(bar, done, lambda n: self._desc(listing, n))

    @staticmethod
    def _desc(listing: Listing, done: int) -> str:
        return f"{done:,}/{listing.to_read:,} objects"

    def close(self) -> None:
        for bar, _ in self.bars.values():
            bar.close()  # type: ignore[attr-defined]
        self.bars.clear()


class _ObjectBar:
    def __init__(self, bar, done: list[int], desc: Callable[[int], str]):
        self.bar, self.done, self.desc, self.counted = bar, done, desc, 0

    def update(self, n: int) -> None:
        self.counted += n
        self.bar.update(n)

    def reset(self) -> None:  # the object is read a second time from its start
        self.bar.update(-self.counted)
        self.counted = 0

    def close(self) -> None:
        self.done[0] += 1
        self.bar.set_description(self.desc(self.done[0]))

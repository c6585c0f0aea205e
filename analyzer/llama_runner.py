"""Run llama.cpp's own C++ server (through the prebuilt ``xllamacpp`` wheel) until SIGTERM or Ctrl-C.

``plan`` starts this as a child process (:class:`analyzer.serve.EmbeddedServer`), so the server's log goes to
the private log file the parent opened and a crash cannot take ``plan`` down with it::

    python -m analyzer.llama_runner --model M.gguf --alias NAME --port 8080 [--ctx 8192] [--parallel 4] [--threads 2]

``--parallel N`` serves N requests at once with continuous batching: on a CPU, decoding four answers in one
batch costs little more than decoding one (the weights are read once per step), so a replay at concurrency 4
finishes several times sooner than one call at a time. The N slots share one KV cache of ``--ctx`` tokens
(unified), so a single prompt may still use the whole window.

It binds 127.0.0.1 only. The wheel needs no compiler, unlike llama-cpp-python, which builds llama.cpp from
source on install (about 8 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import signal
import threading


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m analyzer.llama_runner")
    parser.add_argument("--model", required=True)
    parser.add_argument("--alias", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ctx", type=int, default=8192)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--poll", type=int, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.n_ctx = args.ctx
    params.n_parallel = max(1, args.parallel)
    params.kv_unified = True  # every slot may use the whole window; they share its cells
    params.verbosity = 0  # info and errors (the tail is shown when it fails to start); no debug lines
    if args.threads:
        params.cpuparams.n_threads = args.threads
        params.cpuparams_batch.n_threads = args.threads
    if args.poll is not None:
        params.cpuparams.poll = params.cpuparams_batch.poll = args.poll
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = xllamacpp.Server(params)  # serves on its own threads until it is released
    stop.wait()
    del server
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

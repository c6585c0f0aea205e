"""Third-party noise off stderr: model libraries' progress bars, log lines and warnings.

``plan`` prints data to stdout and its own chatter and progress bars (:mod:`analyzer.progress`) to stderr.
transformers, huggingface_hub, sentence-transformers, torch and model2vec add their own: a "Loading weights"
bar on every model load, "Batches" bars, FutureWarnings and log lines a user cannot act on. The heavy
libraries are imported lazily, so this is applied where they are used: ``quiet_environment()`` before the
import (some read their settings from the environment once), ``third_party_quiet()`` around the calls.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# The loggers of the libraries that print on their own; a logger without handlers would reach stderr through
# logging's last-resort handler at WARNING.
LIBRARY_LOGGERS = ("transformers", "sentence_transformers", "huggingface_hub", "torch", "model2vec", "tokenizers",
                   "safetensors", "filelock", "urllib3")


def quiet_environment() -> None:
    """Settings the libraries read when they are imported: no bars, errors only."""
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    os.environ["TRANSFORMERS_VERBOSITY"] = "error"
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


def _quiet_loaded_libraries() -> None:
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    import sys

    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()


@contextmanager
def third_party_quiet() -> Iterator[None]:
    """Around a call into a model library: its warnings are dropped and its loggers and bars kept quiet (on
    entry and again on exit, for libraries the call itself imported)."""
    quiet_environment()
    _quiet_loaded_libraries()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            _quiet_loaded_libraries()

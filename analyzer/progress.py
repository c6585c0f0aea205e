"""Progress bars on stderr, so stdout stays clean for data and --json."""

from __future__ import annotations

import sys
from typing import Callable


def bar(total=None, desc: str = "", unit: str = "it", unit_scale: bool = False):
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=unit_scale,
        file=sys.stderr,
        disable=None,  # off when stderr is not a terminal (CI, pipes)
        leave=False,
        dynamic_ncols=True,
    )


Say = Callable[[str], None]
"""How a stage speaks to the user: one sentence at a time, chatter only (never data)."""


def say_nothing(message: str) -> None:
    """The ``say`` for library callers and tests that want silence."""


def say_to_stderr(message: str) -> None:
    print(message, file=sys.stderr)

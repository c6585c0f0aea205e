"""Progress bars on stderr, so stdout stays clean for data and --json."""

from __future__ import annotations

import sys


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

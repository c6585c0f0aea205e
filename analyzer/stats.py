"""Interval arithmetic shared by the stages: Wilson intervals for rates, sample sizes for a wanted width."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson_interval(passed: int, n: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval for a pass rate (0, 1 when n is 0: nothing is known)."""
    if n <= 0:
        return 0.0, 1.0
    if passed < 0 or passed > n:
        raise ValueError(f"passed={passed} outside 0..n={n}")
    p = passed / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    low = 0.0 if passed == 0 else max(0.0, centre - half)
    high = 1.0 if passed == n else min(1.0, centre + half)
    return low, high


def sample_size_for_margin(margin: float, p: float = 0.5, z: float = Z95) -> int:
    """Samples needed so a rate near p has a 95% interval of about ±margin (normal approximation;
    p=0.5 is the worst case, used when nothing is known yet)."""
    if not 0 < margin < 1:
        raise ValueError("margin must be between 0 and 1, e.g. 0.1 for ±10 points")
    return math.ceil(z * z * p * (1 - p) / (margin * margin))

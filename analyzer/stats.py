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


def wilson_sample_size(p: float, margin: float, z: float = Z95, limit: int = 1_000_000) -> int:
    """Smallest n whose Wilson interval around an observed rate p is at most ±margin wide (half-width).
    Unlike the normal approximation this stays honest near 0 and 1, where rates of accepted answers live."""
    if not 0 < margin < 1:
        raise ValueError("margin must be between 0 and 1, e.g. 0.05 for ±5 points")
    p = min(max(p, 0.0), 1.0)

    def half_width(n: int) -> float:
        low, high = wilson_interval(round(p * n), n, z)
        return (high - low) / 2

    hi = 1
    while half_width(hi) > margin:
        hi *= 2
        if hi > limit:
            return limit
    lo = hi // 2
    while lo + 1 < hi:  # half-width shrinks with n (up to rounding of p*n, which bisection tolerates)
        mid = (lo + hi) // 2
        if half_width(mid) > margin:
            lo = mid
        else:
            hi = mid
    return hi


def samples_to_clear(p: float, target: float, z: float = Z95, limit: int = 100_000) -> int | None:
    """Smallest n at which a category passing at rate p has a Wilson lower bound at or above target;
    None when p does not exceed the target (no sample size will prove it)."""
    if p <= target:
        return None
    n = 1
    while n <= limit:
        if wilson_interval(math.floor(p * n), n, z)[0] >= target:
            break
        n = max(n + 1, int(n * 1.25))
    else:
        return None
    lo = max(1, int(n / 1.25) - 1)
    for m in range(lo, n + 1):  # the lower bound rises with n but not strictly (floor of p*n): scan the last step
        if wilson_interval(math.floor(p * m), m, z)[0] >= target:
            return m
    return n

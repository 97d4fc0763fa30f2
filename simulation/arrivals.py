"""Checkout arrivals: a non-homogeneous Poisson process drawn by thinning.

The rate is ``rate_per_s`` times a piecewise-constant multiplier (``profile``). Thinning
(Lewis and Shedler) draws a homogeneous process at the peak rate and keeps each point
with probability λ(t)/λ_max, which is exact for any bounded λ(t). All times are drawn
before the run in vectorised blocks, so the model pays one SimPy timeout per buyer and
nothing per rejected candidate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def rate_at(
    times: np.ndarray, rate_per_s: float, profile: Sequence[tuple[float, float]]
) -> np.ndarray:
    """λ(t) at each of ``times`` for a piecewise-constant profile starting at 0."""
    starts = np.array([start for start, _ in profile])
    multipliers = np.array([m for _, m in profile])
    return rate_per_s * multipliers[np.searchsorted(starts, times, side="right") - 1]


def expected_count(
    duration_s: float, rate_per_s: float, profile: Sequence[tuple[float, float]]
) -> float:
    """∫₀ᵀ λ(t) dt: the mean number of arrivals in [0, ``duration_s``)."""
    total = 0.0
    for i, (start, multiplier) in enumerate(profile):
        end = profile[i + 1][0] if i + 1 < len(profile) else duration_s
        total += max(0.0, min(end, duration_s) - min(start, duration_s)) * multiplier
    return total * rate_per_s


def arrival_times(
    rng: np.random.Generator,
    duration_s: float,
    rate_per_s: float,
    profile: Sequence[tuple[float, float]] = ((0.0, 1.0),),
) -> np.ndarray:
    """Sorted arrival times in [0, ``duration_s``) of the NHPP, drawn by thinning."""
    peak = rate_per_s * max(m for _, m in profile)
    if peak <= 0 or duration_s <= 0:
        return np.empty(0)
    chunks = []
    t = 0.0
    # Draw candidate gaps in blocks of about the expected remaining count (plus slack).
    block = int(peak * duration_s * 1.05) + 64
    while t < duration_s:
        candidates = t + np.cumsum(rng.exponential(1.0 / peak, block))
        t = float(candidates[-1])
        candidates = candidates[candidates < duration_s]
        keep = rng.random(candidates.size) * peak < rate_at(candidates, rate_per_s, profile)
        chunks.append(candidates[keep])
        block = max(64, int(peak * (duration_s - t) * 1.05) + 64)
    return np.concatenate(chunks)

"""How many replications each policy gets: Kim & Nelson's fully sequential procedure KN.

KN (S.-H. Kim and B. L. Nelson, "A fully sequential procedure for indifference-zone
selection in simulation", ACM TOMACS 11(3), 2001) picks the system with the smallest
mean among ``k`` and, with probability at least ``1 - alpha``, the one picked is within
the *indifference zone* ``delta`` of the best. It suits common random numbers: it
estimates the variance of each *pairwise difference*, so the noise two policies share
(the same buyers, the same gateway, the same attackers in replication *j*) cancels.

1. Run ``n0`` replications of every system. With
   ``eta = ((2 alpha / (k - 1)) ** (-2 / (n0 - 1)) - 1) / 2`` and ``h2 = 2 eta (n0 - 1)``,
   estimate ``S2[i, l]``, the sample variance of ``X_ij - X_lj`` over the first ``n0``.
2. At stage ``r`` (starting at ``n0``), with ``W[i, l] = max(0, delta / (2 r) *
   (h2 * S2[i, l] / delta**2 - r))``, eliminate every survivor ``i`` with
   ``mean_i(r) > mean_l(r) + W[i, l]`` for some other survivor ``l``.
3. Stop when one survivor is left; else take replication ``r + 1`` of every survivor.

Here a *cap* truncates it: at ``r = cap`` the survivor with the smallest mean is picked
and the result says the zone was not reached (``separated`` false). Nothing is
simulated here: ``KimNelson`` is told the observations so far and says which systems
need how many more, so replications can be run in batches on any executor. Observations
past a system's elimination (a batch ran ahead) are ignored by the rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from simulation.kpis import t975
from verifier.errors import ConfigError


def kn_h2(k: int, n0: int, alpha: float = 0.05) -> float:
    """KN's ``h**2 = 2 eta (n0 - 1)`` for ``k`` systems and a first stage of ``n0``."""
    if k < 2:
        return 0.0
    eta = ((2.0 * alpha / (k - 1)) ** (-2.0 / (n0 - 1)) - 1.0) / 2.0
    return 2.0 * eta * (n0 - 1)


def half_width(h2: float, s2: float, delta: float, r: int) -> float:
    """KN's continuation region ``W_il(r)``: how far above a rival a mean may sit at ``r``."""
    return max(0.0, delta / (2.0 * r) * (h2 * s2 / delta**2 - r))


def pair_variance(x: Sequence[float], y: Sequence[float]) -> float:
    """Sample variance of ``x_j - y_j`` (``n - 1`` in the denominator)."""
    d = [a - b for a, b in zip(x, y, strict=True)]
    mean = sum(d) / len(d)
    return sum((v - mean) ** 2 for v in d) / (len(d) - 1)


@dataclass
class KimNelson:
    """The state of one KN run over named systems (smaller is better)."""

    systems: list[str]
    n0: int
    delta: float
    cap: int
    alpha: float = 0.05
    stage: int = 0  # the last stage r the rule was applied at (0: first stage not seen)
    survivors: list[str] = field(default_factory=list)
    eliminated_at: dict[str, int] = field(default_factory=dict)
    s2: dict[tuple[str, str], float] = field(default_factory=dict)
    h2: float = 0.0

    def __post_init__(self) -> None:
        if len(set(self.systems)) != len(self.systems) or not self.systems:
            raise ConfigError("systems", "needs at least one system, each named once")
        if self.n0 < 2:
            raise ConfigError("first-stage", f"needs at least 2 replications, got {self.n0}")
        if self.cap < self.n0:
            raise ConfigError(
                "max-replications", f"{self.cap} is below the first stage of {self.n0}"
            )
        if not self.delta > 0:
            raise ConfigError("indifference", f"must be positive, got {self.delta:g}")
        if not 0 < self.alpha < 1:
            raise ConfigError("alpha", f"{self.alpha:g} is outside (0, 1)")
        self.survivors = list(self.systems)
        self.h2 = kn_h2(len(self.systems), self.n0, self.alpha)

    @property
    def done(self) -> bool:
        return len(self.survivors) <= 1 or self.stage >= self.cap

    @property
    def separated(self) -> bool:
        """True when one survivor is left: the best is separated by the zone, not the cap."""
        return len(self.survivors) == 1

    def wanted(self, step: int = 1) -> dict[str, int]:
        """Replications each survivor should have before the next ``update``."""
        if self.stage == 0:
            return {s: self.n0 for s in self.systems}
        if self.done:
            return {}
        target = min(self.cap, self.stage + max(1, step))
        return {s: target for s in self.survivors}

    def update(self, observations: Mapping[str, Sequence[float]]) -> None:
        """Apply the rule at every stage the survivors' observations now reach."""
        if self.stage == 0:
            short = [s for s in self.systems if len(observations[s]) < self.n0]
            if short:
                raise ValueError(f"first stage incomplete for {short}")
            for i in self.systems:
                for j in self.systems:
                    if i != j:
                        self.s2[(i, j)] = pair_variance(
                            observations[i][: self.n0], observations[j][: self.n0]
                        )
            self.stage = self.n0 - 1
        reach = min(len(observations[s]) for s in self.survivors)
        while not self.done and self.stage < min(reach, self.cap):
            self.stage += 1
            self._eliminate(observations, self.stage)

    def _eliminate(self, observations: Mapping[str, Sequence[float]], r: int) -> None:
        mean = {s: sum(observations[s][:r]) / r for s in self.survivors}
        out = [
            i
            for i in self.survivors
            if any(
                mean[i] > mean[j] + half_width(self.h2, self.s2[(i, j)], self.delta, r)
                for j in self.survivors
                if j != i
            )
        ]
        for i in out:
            self.eliminated_at[i] = r
        self.survivors = [s for s in self.survivors if s not in out]

    def best(self, observations: Mapping[str, Sequence[float]]) -> str:
        """The survivor with the smallest mean over the last stage (ties: first named)."""
        r = max(self.stage, 1)
        return min(self.survivors, key=lambda s: sum(observations[s][:r]) / r)


def paired_interval(x: Sequence[float], y: Sequence[float]) -> tuple[float, float, int]:
    """Mean of ``x_j - y_j`` over the common ``j``, its 95 % Student-t half-width, and n."""
    n = min(len(x), len(y))
    if n < 2:
        return (math.nan, math.nan, n)
    d = [a - b for a, b in zip(x[:n], y[:n], strict=True)]
    mean = sum(d) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in d) / (n - 1))
    return (mean, t975(n - 1) * sd / math.sqrt(n), n)

"""Finding the peak a deployment holds: each step's verdict and the search over rates.

Pure arithmetic, no processes and no Locust (``capacity_run.py`` runs the steps). A step
offers open arrivals at one rate of checkouts per second for a fixed time, and ends in
one of four verdicts:

* ``generator``: the load generator, not the server, fell behind (a buyer found every
  session slot taken, the schedule lag grew past ``Limits.max_lag_s``, or Locust warned
  that its CPU was saturated). Its numbers say nothing of the server, so the search
  stops there and the capacity found is a lower bound.
* ``errors``: more than ``Limits.max_error_rate`` of the server's requests failed (a
  transport error or an answer outside the contract; a business refusal such as
  ``resend_too_soon`` is an answer, not an error).
* ``outbox``: SMS dispatch fell behind: the server's outbox (SMS staged, not yet handed
  to the gateway) grew during the measured window by more than ``Limits.max_outbox_s``
  seconds of the step's arrivals. The API can answer fast while codes queue unsent, so
  latency alone would call such a step held.
* ``slo``: some server endpoint's p99 exceeded ``Limits.slo_p99_ms``.
* ``holds``: none of these.

:class:`Search` raises the rate ``growth``-fold while steps hold, then bisects
(geometrically) between the highest rate that held and the lowest that broke, until the
two are within ``resolution`` of each other or the steps run out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from verifier.errors import ConfigError

from .locustcsv import Endpoint

HOLDS, SLO, ERRORS, GENERATOR = "holds", "slo", "errors", "generator"
OUTBOX = "outbox"
BROKE = (SLO, ERRORS, OUTBOX)
GATEWAY = "(gateway)"  # Locust request names of the fake gateway end with this


@dataclass(frozen=True, slots=True)
class Limits:
    """What a step must meet to count as held."""

    slo_p99_ms: float = 250.0
    max_error_rate: float = 0.01
    max_lag_s: float = 1.0  # p99 of how late buyers started against their schedule
    max_outbox_s: float = 5.0  # outbox growth over a step, in seconds of its arrivals

    def __post_init__(self) -> None:
        if not self.slo_p99_ms > 0:
            raise ConfigError("slo-p99-ms", f"must be positive, got {self.slo_p99_ms!r}")
        if not 0 <= self.max_error_rate < 1:
            raise ConfigError(
                "max-error-rate", f"expected a share in 0..1, got {self.max_error_rate!r}"
            )
        if not self.max_lag_s > 0:
            raise ConfigError("max-lag-s", f"must be positive, got {self.max_lag_s!r}")
        if not self.max_outbox_s > 0:
            raise ConfigError("max-outbox-s", f"must be positive, got {self.max_outbox_s!r}")


@dataclass(frozen=True)
class Step:
    """What one step offered and measured."""

    index: int
    rate: float  # offered checkouts (buyer arrivals) per second
    seconds: float
    buyers: int  # buyers the generator started (overflow excluded)
    overflow: int  # buyers who found every session slot taken
    lag_p99_s: float | None
    generator_cpu_warning: bool
    endpoints: list[Endpoint]  # the server's endpoints only (not the gateway's, not totals)
    errors: int  # failed server requests that were not business answers
    server_cpu: float | None = None  # cores the server's processes kept busy on average
    server_rss_mb: float | None = None  # their resident memory at the step's end
    generator_cpu: float | None = None  # cores the load generator's processes kept busy
    gateway_cpu: float | None = None  # and the fake gateway's (same machine, not measured)
    load_avg: float | None = None  # the machine's 1-minute load average at the end
    outbox_start: int | None = None  # SMS in the server's outbox as the window began
    outbox_end: int | None = None  # and as it ended
    outbox_left: int | None = None  # left by the step before when this one began
    verdict: str = ""
    why: str = ""

    @property
    def requests(self) -> int:
        return sum(e.requests for e in self.endpoints)

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def checkouts_per_s(self) -> float:
        return self.buyers / self.seconds

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def outbox_growth(self) -> int | None:
        if self.outbox_start is None or self.outbox_end is None:
            return None
        return self.outbox_end - self.outbox_start

    @property
    def p99_ms(self) -> float | None:
        """The worst p99 over the server's endpoints: the one the SLO is about."""
        values = [e.p99_ms for e in self.endpoints if e.p99_ms is not None]
        return max(values, default=None)

    def worst(self) -> Endpoint | None:
        ranked = [e for e in self.endpoints if e.p99_ms is not None]
        return max(ranked, key=lambda e: e.p99_ms, default=None)


def server_endpoints(endpoints: list[Endpoint]) -> list[Endpoint]:
    """Locust's rows without the fake gateway's requests and without the total row."""
    return [e for e in endpoints if e.name != "Aggregated" and not e.name.endswith(GATEWAY)]


def judge(step: Step, limits: Limits) -> tuple[str, str]:
    """The step's verdict and, unless it held, why (a sentence)."""
    if step.overflow:
        return GENERATOR, f"{step.overflow} buyers found every session slot of the generator taken"
    if step.generator_cpu_warning:
        return GENERATOR, "Locust warned that its CPU was above 90 %"
    if step.lag_p99_s is not None and step.lag_p99_s > limits.max_lag_s:
        return GENERATOR, (
            f"buyers started {step.lag_p99_s:.2f} s late at p99 (limit {limits.max_lag_s:g} s): "
            "the generator could not keep its schedule"
        )
    if not step.requests:
        return ERRORS, "the server answered no request"
    if step.error_rate > limits.max_error_rate:
        return ERRORS, (
            f"{step.error_rate:.1%} of the server's requests failed "
            f"(limit {limits.max_error_rate:.1%})"
        )
    growth = step.outbox_growth
    if growth is not None and growth > limits.max_outbox_s * step.rate:
        return OUTBOX, (
            f"the outbox grew by {growth:,} SMS over the measured {step.seconds:g} s, "
            f"{growth / step.rate:.1f} s of arrivals (limit {limits.max_outbox_s:g} s): "
            "SMS dispatch fell behind"
        )
    worst = step.worst()
    if worst is not None and worst.p99_ms > limits.slo_p99_ms:
        return SLO, f"{worst.name} p99 {worst.p99_ms:g} ms (SLO {limits.slo_p99_ms:g} ms)"
    return HOLDS, ""


@dataclass(frozen=True, slots=True)
class Search:
    """Which rate to offer next, from the verdicts so far."""

    start: float = 2.0  # checkouts/s of the first step
    growth: float = 2.0
    resolution: float = 1.25  # stop once the highest held and lowest broken are this close
    steps: int = 8
    floor: float = 0.05  # below this rate a failing deployment is not searched further

    def __post_init__(self) -> None:
        if not self.start > 0:
            raise ConfigError("start-rate", f"must be positive, got {self.start!r}")
        if not self.growth > 1:
            raise ConfigError("growth", f"must be above 1, got {self.growth!r}")
        if not 1 < self.resolution <= self.growth:
            raise ConfigError("resolution", f"must be in (1, growth], got {self.resolution!r}")
        if not 1 <= self.steps <= 64:
            raise ConfigError("steps", f"expected 1..64, got {self.steps!r}")

    def next_rate(self, tried: list[tuple[float, str]]) -> float | None:
        """The next step's rate, or None when the search is over."""
        if not tried:
            return self.start
        if len(tried) >= self.steps or any(v == GENERATOR for _, v in tried):
            return None
        low, high = bracket(tried)
        if high is None:
            return low * self.growth
        if low is None:
            rate = high / self.growth
            return rate if rate >= self.floor else None
        if high / low <= self.resolution:
            return None
        return math.sqrt(low * high)


def bracket(tried: list[tuple[float, str]]) -> tuple[float | None, float | None]:
    """The highest rate that held below the lowest that broke, and that lowest.

    A rate that held above one that broke (noise near the knee) does not count: the
    capacity is what held with nothing below it breaking.
    """
    broke = [r for r, v in tried if v in BROKE]
    high = min(broke, default=None)
    held = [r for r, v in tried if v == HOLDS and (high is None or r < high)]
    return max(held, default=None), high


@dataclass
class Finding:
    """The search's answer: the highest rate held, and what stopped it."""

    steps: list[Step] = field(default_factory=list)

    @property
    def tried(self) -> list[tuple[float, str]]:
        return [(s.rate, s.verdict) for s in self.steps]

    @property
    def capacity(self) -> Step | None:
        """The step at the highest rate that held (with nothing below it breaking)."""
        low, _ = bracket(self.tried)
        held = [s for s in self.steps if s.rate == low and s.verdict == HOLDS]
        return held[-1] if held else None

    @property
    def first_broken(self) -> Step | None:
        _, high = bracket(self.tried)
        return next((s for s in self.steps if s.rate == high and s.verdict in BROKE), None)

    @property
    def generator_limited(self) -> Step | None:
        return next((s for s in self.steps if s.verdict == GENERATOR), None)

    def limit(self, cores: int, server_workers: int) -> str:
        """Which resource ran out, in a sentence."""
        gen = self.generator_limited
        if gen is not None:
            return (
                f"the load generator, at {gen.rate:.3g} checkouts/s ({gen.why}); "
                "the server's capacity is above the last rate that held"
            )
        broken = self.first_broken
        if broken is None:
            return "nothing within the steps run: every step held, so the capacity is higher"
        if broken.verdict == ERRORS:
            return f"the server's answers ({broken.why})"
        if broken.verdict == OUTBOX:
            return (
                f"SMS dispatch, the server's outbox delivery to the gateway ({broken.why}; "
                f"server CPU {broken.server_cpu or 0:.2f} cores)"
            )
        cpu = broken.server_cpu
        others = (broken.generator_cpu or 0.0) + (broken.gateway_cpu or 0.0)
        if cpu is not None and cpu >= 0.85 * min(server_workers, cores):
            return (
                f"server CPU: its processes kept {cpu:.2f} cores busy with {server_workers} "
                f"worker(s) ({broken.why})"
            )
        if cpu is not None and cpu + others >= 0.85 * cores:
            return (
                f"the machine's {cores} cores, shared by the server ({cpu:.2f} cores), the "
                f"load generator ({broken.generator_cpu or 0:.2f}) and the fake gateway "
                f"({broken.gateway_cpu or 0:.2f}) ({broken.why})"
            )
        if cpu is not None:
            return (
                f"not CPU alone (the server kept {cpu:.2f} cores busy): its requests waited "
                f"(on locks, on threads taking turns, on I/O) ({broken.why})"
            )
        return broken.why

"""Fit an hour-long scenario into a short load test: squeeze it in time, scale its rates.

Two transformations, pure arithmetic on a :class:`~simulation.scenario.Scenario`:

* **compress X**: the scenario's timeline runs X times faster. ``duration_s``, the
  arrival profile's step starts and the gateway's busy windows are divided by X, and
  every arrival and fraud rate is multiplied by X, so the same traffic *shape* plays in
  1/X of the time. Buyer timings (read and type, patience, giving up), gateway service
  times and the policy's timers (code TTL, cooldowns, lockouts) stay real: they are
  what the test measures.
* **rate-scale Y**: every arrival and fraud rate is multiplied by Y (the count of
  buyers is multiplied by Y, their shape is kept).

A buyer of the transformed scenario therefore arrives at X·Y times the original rate.
With X·Y = 1 the gateway faces the original load per second; below 1, less.

Defaults for a run of ``run_s`` seconds: arrivals take the first two thirds of the run
(the last third, ``run_s / DRAIN_PART``, lets the last buyers finish), so X =
``duration_s`` / that window;
Y is the largest value that keeps X·Y ≤ 1 and the peak buyer rate at or below
``PEAK_BUYERS_PER_S``, the rate this harness keeps below saturation on a 2-core machine
(``docs/loadtests.md`` gives the measurement).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from simulation.scenario import Scenario
from verifier.errors import ConfigError

DRAIN_PART = 3  # the last third of a run is left for the last buyers to finish
PEAK_BUYERS_PER_S = 20.0
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|m|h)?\s*$")
FRAUD_RATES = (
    "bruteforce_rate_per_s",
    "pumping_rate_per_s",
    "enumeration_rate_per_s",
    "farming_rate_per_s",
)


def parse_duration(text: str | float, key: str = "duration") -> float:
    """Seconds from ``"60s"``, ``"2m"``, ``"1h"``, ``"500ms"`` or a bare number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    else:
        found = DURATION.match(str(text))
        if found is None:
            raise ConfigError(key, f"expected a duration such as 60s, 2m or 1h, got {text!r}")
        seconds = float(found.group(1)) * UNITS[found.group(2) or "s"]
    if not 0 < seconds <= 86400:
        raise ConfigError(key, f"{text!r} is outside 0 s..24 h")
    return seconds


def peak_rate(scenario: Scenario) -> float:
    """The highest buyer arrival rate of the scenario (buyers per second)."""
    return scenario.arrivals.rate_per_s * max(m for _, m in scenario.arrivals.profile)


@dataclass(frozen=True, slots=True)
class Transform:
    """A compression and a rate scale, and the run they were chosen for."""

    compress: float
    rate_scale: float
    run_s: float  # the whole test: arrivals, then the drain
    compress_default: bool = False
    rate_scale_default: bool = False

    def __post_init__(self) -> None:
        for key in ("compress", "rate_scale", "run_s"):
            value = getattr(self, key)
            if not value > 0:
                raise ConfigError(key.replace("_", "-"), f"must be positive, got {value!r}")

    def window_s(self, scenario: Scenario) -> float:
        """How long arrivals last in the test: the scenario's duration squeezed X-fold."""
        return scenario.duration_s / self.compress

    def drain_s(self, scenario: Scenario) -> float:
        return self.run_s - self.window_s(scenario)

    def apply(self, scenario: Scenario) -> Scenario:
        """The transformed scenario: what both the load test and the model play."""
        x, y = self.compress, self.rate_scale
        busy = scenario.gateway.busy
        fraud = scenario.fraud
        changes = {
            "duration_s": scenario.duration_s / x,
            "arrivals.rate_per_s": scenario.arrivals.rate_per_s * x * y,
            "arrivals.profile": [[start / x, m] for start, m in scenario.arrivals.profile],
            "gateway.busy": None
            if busy is None
            else {
                "every_s": busy.every_s / x,
                "length_s": busy.length_s / x,
                "slowdown": busy.slowdown,
            },
        }
        for name in FRAUD_RATES:
            changes[f"fraud.{name}"] = getattr(fraud, name) * x * y
        return scenario.replace(**changes)


def choose(
    scenario: Scenario,
    run_s: float,
    compress: float | None = None,
    rate_scale: float | None = None,
    peak_cap: float = PEAK_BUYERS_PER_S,
) -> Transform:
    """The transformation for a run of ``run_s`` seconds; ``None`` picks the default.

    An explicit ``compress`` must leave the arrivals inside the run (X ≥ duration_s /
    run_s), else some buyers the model predicts would never arrive.
    """
    compress_default, scale_default = compress is None, rate_scale is None
    if compress is None:
        compress = scenario.duration_s / (run_s - run_s / DRAIN_PART)
    elif not compress > 0:
        raise ConfigError("compress", f"must be positive, got {compress!r}")
    elif scenario.duration_s / compress > run_s:
        raise ConfigError(
            "compress",
            f"{compress:g} squeezes {scenario.duration_s:g} s of arrivals into "
            f"{scenario.duration_s / compress:g} s, longer than the {run_s:g} s run; "
            f"use at least {scenario.duration_s / run_s:g}",
        )
    if rate_scale is None:
        peak = peak_rate(scenario) * compress
        rate_scale = 1 / compress
        if peak > 0:
            rate_scale = min(rate_scale, peak_cap / peak)
    elif not rate_scale > 0:
        raise ConfigError("rate-scale", f"must be positive, got {rate_scale!r}")
    return Transform(
        compress,
        rate_scale,
        run_s,
        compress_default=compress_default,
        rate_scale_default=scale_default,
    )

"""What a tuning run simulates: the main grid over scenarios, plus the studies the plots need.

* ``main``: every grid point (and the default policy) on every chosen scenario; the
  decision rule reads only these rows.
* ``latency``: the base scenario with the gateway's latency multiplied and no queue
  (unlimited channels, so only delivery time changes) against code TTL.
* ``typo``: the base scenario at several typo rates against the attempt limit.
* ``storm``: the drop scenario with no resend cooldown, today's, and a long one.
* ``ttl_drop``: the drop scenario against code TTL, the other keys at their defaults.
* ``voice``: the base scenario with voice calls allowed (today) and not: what the call
  fallback recovers for phones that reject SMS, and what it costs.
* ``ttl_from``: every queued scenario (the drop, and any with a busy gateway) with the
  code's TTL starting at hand-off (today) and at delivery, at a 120 s TTL and at today's.

After the main grid, ``stepup.py`` runs a second stage on the scenarios with payments.

The *base* scenario is ``steady`` when chosen (else the least peaky one), the *drop*
scenario ``ticket-drop`` (else the peakiest). Variants are built in memory with
``Scenario.replace``; nothing is written to ``simulation/scenarios/``.

``--scale F`` thins every scenario for a quick run: gateway channels times F (rounded, at
least 1) and arrival and fraud rates by the same ratio (``effective_scale``), so the
offered load per channel, hence queueing in overload, is the scenario's; the counts
shrink, and the intervals widen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from simulation.scenario import Scenario

from .grid import build, expand, peak_ratio
from .sweep import Point

LATENCY_FACTORS = (1.0, 3.0, 6.0)
UNLIMITED_CHANNELS = 100_000  # the latency study has no queue: only delivery time changes
LATENCY_TTLS = (60.0, 120.0, 300.0, 600.0)
TYPO_RATES = (0.01, 0.03, 0.10)
TYPO_ATTEMPTS = (1, 3, 5, 10)
STORM_COOLDOWNS = ([0.0], None, [60.0, 120.0, 240.0])  # None: today's ladder
DROP_TTLS = (60.0, 120.0, 300.0, 600.0)
VOICE_CHOICES = ({}, {"voice.enabled": False})  # today's (calls allowed), and none
TTL_FROM_CHOICES = ({}, {"code.ttl_from": "delivery"})  # today's (from hand-off), delivery
# The TTLs the comparison runs at: a short one, where a queue can outlast the code, and
# today's (None). Each delivery variant is paired with hand-off at the same TTL.
TTL_FROM_TTLS = (120.0, None)
FRAUD_RATES = (
    "bruteforce_rate_per_s",
    "pumping_rate_per_s",
    "enumeration_rate_per_s",
    "farming_rate_per_s",
)


@dataclass(frozen=True)
class Item:
    """One row of the results table before it has numbers: a study, a scenario, a policy.

    ``scale`` is the thinning applied to the scenario (``effective_scale``), by which
    capacity figures are divided to give full-traffic rates.
    """

    study: str
    scenario: str
    overrides: dict[str, Any]
    point: Point
    variant: dict[str, Any] = field(default_factory=dict)
    scale: float = 1.0


def effective_scale(scenario: Scenario, factor: float) -> float:
    """The factor actually applied: channels round to a whole number, rates follow them."""
    if factor == 1:
        return 1.0
    channels = scenario.gateway.channels
    return max(1, round(channels * factor)) / channels


def scaled(scenario: Scenario, factor: float) -> Scenario:
    """``scenario`` thinned by about ``factor`` (exactly ``effective_scale``).

    Channels become ``round(channels × factor)`` (at least 1) and arrival and fraud
    rates are multiplied by the same ratio, so the offered load per channel is exactly
    the scenario's: rounding channels alone would move a gateway that is just
    overloaded at the peak (``ticket-drop``) to just underloaded.
    """
    if factor == 1:
        return scenario
    f = effective_scale(scenario, factor)
    changes: dict[str, Any] = {
        "arrivals.rate_per_s": scenario.arrivals.rate_per_s * f,
        "gateway.channels": max(1, round(scenario.gateway.channels * factor)),
    }
    for name in FRAUD_RATES:
        changes[f"fraud.{name}"] = getattr(scenario.fraud, name) * f
    return scenario.replace(**changes)


def roles(scenarios: list[Scenario]) -> tuple[Scenario, Scenario]:
    """The base and the drop scenario among those chosen."""
    by_name = {s.name: s for s in scenarios}
    base = by_name.get("steady") or min(scenarios, key=lambda s: (peak_ratio(s), s.fraud.any))
    drop = by_name.get("ticket-drop") or max(scenarios, key=peak_ratio)
    return base, drop


def _point(scenario: Scenario, overrides: dict[str, Any], replications: int) -> Point:
    return Point(scenario.to_dict(), build(overrides).to_dict(), replications)


def main_items(
    scenarios: list[Scenario],
    grid: dict[str, list[Any]],
    replications: int,
    scales: dict[str, float] | None = None,
) -> list[Item]:
    """The default policy and every grid point on every scenario."""
    points = expand(grid)
    scales = scales or {}
    return [
        Item("main", s.name, overrides, _point(s, overrides, replications),
             scale=scales.get(s.name, 1.0))
        for s in scenarios
        for overrides in points
    ]  # fmt: skip


def study_items(
    scenarios: list[Scenario], replications: int, scales: dict[str, float] | None = None
) -> list[Item]:
    """The extra sweeps behind the plots (see the module docstring)."""
    base, drop = roles(scenarios)
    scales = scales or {}
    items: list[Item] = []

    def add(study, scenario, variant_scenario, overrides, variant=None):
        point = _point(variant_scenario, overrides, replications)
        items.append(Item(study, scenario.name, overrides, point, variant or {},
                          scales.get(scenario.name, 1.0)))  # fmt: skip

    service = base.gateway.service_time
    for factor in LATENCY_FACTORS:
        variant_service = {
            k: v * factor if k.endswith("_s") else v for k, v in service.to_dict().items()
        }
        variant = base.replace(
            **{"gateway.service_time": variant_service, "gateway.channels": UNLIMITED_CHANNELS}
        )
        labels = {"latency_factor": factor, "latency_mean_s": variant.gateway.service_time.mean()}
        for ttl in LATENCY_TTLS:
            add("latency", base, variant, {"code.ttl_s": ttl}, labels)
    for typo in TYPO_RATES:
        variant = base.replace(**{"users.typo_rate": typo})
        for attempts in TYPO_ATTEMPTS:
            add("typo", base, variant, {"check.max_attempts": attempts}, {"typo_rate": typo})
    for cooldown in STORM_COOLDOWNS:
        add("storm", drop, drop, {} if cooldown is None else {"send.resend_cooldown_s": cooldown})
    for ttl in DROP_TTLS:
        add("ttl_drop", drop, drop, {"code.ttl_s": ttl})
    for overrides in VOICE_CHOICES:
        add("voice", base, base, overrides)
    queued = [drop, *(s for s in scenarios if s.gateway.busy is not None and s is not drop)]
    for scenario in queued:
        for ttl in TTL_FROM_TTLS:
            at = {} if ttl is None else {"code.ttl_s": ttl}
            for overrides in TTL_FROM_CHOICES:
                add("ttl_from", scenario, scenario, {**at, **overrides})
    return items

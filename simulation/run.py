"""One replication of a scenario under a policy, and a set of independent replications.

Replication ``i`` of ``n`` draws from ``numpy.random.SeedSequence(seed).spawn(n)[i]``,
which it spawns again into one stream per concern (``STREAMS``), so changing one actor
never shifts another's draws and a replication does not depend on ``n``. The run goes
on after ``duration_s`` until every buyer has finished and the event queue is empty.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import simpy

from verifier import Policy

from .arrivals import arrival_times
from .attackers import BruteForcer, Enumerator, Farmer, Pumper
from .buyers import Buyers, Registered
from .cardfraud import CardFraud, expected_loss
from .gateway import Gateway, Handset
from .harness import Harness
from .kpis import Ledger, combine, replication_metrics, timeseries
from .numbers import NumberPlan
from .payments import buyer_payments
from .scenario import Scenario

STREAMS = (
    "arrivals",
    "numbers",
    "gateway",
    "buyers",
    "codes",
    "bruteforce",
    "pumping",
    "enumeration",
    "farming",
    "payments",  # added last, so the streams before them draw as they did
    "voice",
    "callers",
)
PROGRESS_STEPS = 100

Progress = Callable[[float], None]
"""Called with the simulated time reached, now and then, while a replication runs."""


@dataclass
class Replication:
    """One replication's outputs: ``metrics.json`` keys, session rows, per-minute series."""

    index: int
    metrics: dict
    verifications: pd.DataFrame
    timeseries: pd.DataFrame


@dataclass
class Result:
    """Several replications and their combination (means and 95 % half-widths)."""

    metrics: dict
    replications: list[Replication]

    def verifications(self) -> pd.DataFrame:
        return _stack([(r.index, r.verifications) for r in self.replications])

    def timeseries(self) -> pd.DataFrame:
        return _stack([(r.index, r.timeseries) for r in self.replications])


def _stack(parts: list[tuple[int, pd.DataFrame]]) -> pd.DataFrame:
    return pd.concat(
        [frame.assign(replication=i)[["replication", *frame.columns]] for i, frame in parts],
        ignore_index=True,
    )


def streams(seed: int, replications: int, index: int) -> dict[str, np.random.Generator]:
    """The generators of replication ``index``: one per concern, from the replication's seed."""
    child = np.random.SeedSequence(seed).spawn(replications)[index]
    return {
        name: np.random.default_rng(seq)
        for name, seq in zip(STREAMS, child.spawn(len(STREAMS)), strict=True)
    }


def _drain(env: simpy.Environment, until: float) -> int:
    """Process events scheduled before ``until``; returns how many ``env.step()`` calls ran."""
    step, peek = env.step, env.peek
    n = 0
    while peek() < until:
        step()
        n += 1
    return n


def _events(env: simpy.Environment, duration: float, progress: Progress | None) -> int:
    """Run every event to the end, reporting progress at ``PROGRESS_STEPS`` points."""
    if progress is None:
        return _drain(env, float("inf"))
    steps = 0
    for k in range(1, PROGRESS_STEPS + 1):
        steps += _drain(env, duration * k / PROGRESS_STEPS)
        progress(env.now)
    steps += _drain(env, float("inf"))
    progress(max(env.now, duration))
    return steps


def run_replication(
    scenario: Scenario,
    policy: Policy,
    replications: int = 1,
    index: int = 0,
    progress: Progress | None = None,
) -> Replication:
    """Simulate replication ``index`` of ``replications`` of ``scenario`` under ``policy``."""
    # The engine and SimPy allocate many small objects but hardly any reference cycles:
    # the cyclic collector took a third of the wall time of large runs and reclaimed
    # almost nothing (peak memory within 3 %), so it is paused for the replication.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _replicate(scenario, policy, replications, index, progress)
    finally:
        if collecting:
            gc.enable()


def _replicate(
    scenario: Scenario,
    policy: Policy,
    replications: int,
    index: int,
    progress: Progress | None,
) -> Replication:
    wall = time.perf_counter()
    rng = streams(scenario.seed, replications, index)
    env = simpy.Environment()
    handsets: dict[str, Handset] = {}
    gateway = Gateway(env, scenario.gateway, rng["gateway"], handsets)
    calls = Gateway(env, scenario.voice.as_gateway(), rng["voice"], handsets, calls=True)
    harness = Harness(env, policy, gateway, rng["codes"], calls)
    plan = NumberPlan(scenario.numbers.countries, rng["numbers"])
    ledger = Ledger()
    duration = scenario.duration_s

    times = arrival_times(
        rng["arrivals"], duration, scenario.arrivals.rate_per_s, scenario.arrivals.profile
    )
    numbers = plan.buyer_numbers(len(times))
    chosen = np.nonzero(rng["numbers"].random(len(times)) < scenario.numbers.recycled_share)[0]
    recycled = bytearray(len(times))  # 1 for a number already bound to a former owner
    registered = Registered(numbers)
    if chosen.size:
        pairs = [(numbers.number(i), numbers.country(i)) for i in chosen.tolist()]
        for i, bound in zip(chosen.tolist(), harness.preregister(pairs), strict=True):
            recycled[i] = bound
            if bound:
                registered.append(i)
    payments = scenario.payments
    Buyers(
        env,
        harness,
        scenario,
        plan,
        handsets,
        ledger,
        rng["buyers"],
        times,
        numbers,
        recycled,
        registered,
        None if payments is None else buyer_payments(payments, rng["payments"], len(times)),
        rng["callers"],
    ).start()
    del times  # the buyers keep their own copy

    fraud, home = scenario.fraud, scenario.numbers.countries[0]
    common = (env, harness, plan, ledger)
    if fraud.bruteforce_rate_per_s > 0:
        BruteForcer(
            *common,
            rng["bruteforce"],
            fraud.bruteforce_rate_per_s,
            duration,
            home,
            code_length=policy.code.length,
        ).start()
    if fraud.pumping_rate_per_s > 0:
        Pumper(
            *common, rng["pumping"], fraud.pumping_rate_per_s, duration, fraud.pumping_country
        ).start()
    if fraud.enumeration_rate_per_s > 0:
        Enumerator(
            *common,
            rng["enumeration"],
            fraud.enumeration_rate_per_s,
            duration,
            home,
            registered=registered,
            share=fraud.enumeration_registered_share,
        ).start()
    if fraud.farming_rate_per_s > 0:
        Farmer(
            *common,
            rng["farming"],
            fraud.farming_rate_per_s,
            duration,
            home,
            handsets=handsets,
            sims=fraud.farming_numbers,
        ).start()

    if payments is not None and payments.fraud_share > 0:
        CardFraud(
            *common,
            rng["payments"],
            payments,
            arrival_times(
                rng["payments"],
                duration,
                scenario.arrivals.rate_per_s * payments.fraud_share,
                scenario.arrivals.profile,
            ),
            home,
        ).start()

    steps = _events(env, duration, progress)
    # The run is over and no KPI reads the engine's store: a store that drops its data
    # frees it at once, before the tables are built (it holds most of the memory).
    harness.store.close()
    frame = ledger.frame()
    metrics = replication_metrics(
        ledger, frame, gateway, harness.tally, duration, steps, time.perf_counter() - wall
    )
    metrics["voice_calls"] = calls.sent
    metrics["voice_calls_answered"] = calls.delivered
    metrics["voice_cost"] = calls.cost()
    metrics["code_life_mean_s"] = code_life_mean(policy, gateway)
    # The stolen-card loss its payments were expected to cause (closed form): passing
    # fraud is rare, so this is what the report decides on (conditional Monte Carlo).
    metrics["fraud_loss_expected"] = (
        metrics["fraud_payments"] * expected_loss(payments, policy.stepup)
        if payments is not None
        else 0.0
    )
    series = timeseries(ledger, frame, gateway, harness.tally, max(env.now, duration))
    ledger.close()
    gateway.close()
    calls.close()
    return Replication(index, metrics, frame, series)


def code_life_mean(policy: Policy, gateway) -> float | None:
    """How long an SMS code stays valid, on average: the time a guesser has for it.

    From hand-off, ``code.ttl_s`` when the TTL runs from sending; with ``ttl_from =
    "delivery"`` the TTL starts when the gateway is done with the message (delivered, or
    failed for a lost one), bounded by ``code.max_life_s`` from hand-off. Messages still
    queued at the end of the run are not counted.
    """
    submitted, _, ended = gateway.arrays()
    if not submitted.size:
        return None
    code = policy.code
    if code.ttl_from != "delivery":
        return float(code.ttl_s)
    life = np.minimum(ended - submitted + code.ttl_s, code.max_life_s)
    return float(life.mean())


def simulate(
    scenario: Scenario,
    policy: Policy | None = None,
    replications: int = 1,
    progress: Callable[[int, float], None] | None = None,
) -> Result:
    """Run ``replications`` independent replications; ``progress(i, sim_time)`` if given."""
    if not isinstance(replications, int) or replications < 1:
        raise ValueError("replications must be a whole number of at least 1")
    policy = policy or Policy.default()
    runs = []
    for i in range(replications):
        tick = None if progress is None else (lambda t, i=i: progress(i, t))
        runs.append(run_replication(scenario, policy, replications, i, tick))
    metrics = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "replications": replications,
        **combine([r.metrics for r in runs]),
    }
    return Result(metrics, runs)

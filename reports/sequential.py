"""Running the main grid sequentially: KN (``selection.py``) decides who gets more runs.

Round one runs the first stage of every main point and every study point. Then, while
KN has more than one survivor and has not reached its cap, each surviving policy gets
``step`` more replications on every scenario, and KN applies its rule at each new
stage. A policy's observation for replication *j* is its expected cost per 1,000
checkouts over all scenarios together in replication *j*; every policy runs on the same
seeds, so KN's pairwise variances are those of paired differences (common random
numbers). Policies that break a hard constraint are never recommended, so they take no
part: they keep their first stage. With a fixed ``--replications`` there is one round.
"""

from __future__ import annotations

import concurrent.futures as cf
from dataclasses import replace
from pathlib import Path
from typing import Any

from verifier.policy import Policy

from .decision import Weights, constraint_failures, derive
from .grid import policy_key
from .plan import Item
from .selection import KimNelson
from .sweep import Point, SweepStats, run_points


def _grown(item: Item, replications: int) -> Item:
    point = Point(item.point.scenario, item.point.policy, replications)
    return replace(item, point=point)


def cost_per_1k(records: list[dict], weights: Weights) -> list[float]:
    """Expected cost per 1,000 checkouts over all scenarios, per common replication."""
    n = min(len(r["runs"]) for r in records)
    out = []
    for j in range(n):
        cost = checkouts = 0.0
        for record in records:
            policy = Policy.from_dict(record["policy"])
            price = record["scenario"]["gateway"]["cost_per_sms"]
            metrics = record["runs"][j]["metrics"]
            currency = (record["scenario"].get("payments") or {}).get("currency")
            cost += derive(metrics, policy, price, weights, currency)["expected_cost"]
            checkouts += metrics["checkouts"]
        out.append(1000.0 * cost / checkouts if checkouts else 0.0)
    return out


def merge_stats(total: SweepStats, part: SweepStats) -> None:
    total.points_run += part.points_run
    total.replications_run += part.replications_run
    total.replications_cached += part.replications_cached
    total.wall_s += part.wall_s
    total.executor = total.executor or part.executor


def run_sequential(
    main: list[Item],
    studies: list[Item],
    folder: Path,
    weights: Weights,
    pool: tuple[cf.Executor, str],
    first: int,
    cap: int,
    delta: float,
    step: int = 2,
    progress: Any = True,
) -> tuple[list[Item], dict[str, Any], SweepStats]:
    """Run ``main`` under KN and ``studies`` at the first stage; return the grown main items."""
    by_policy: dict[str, list[Item]] = {}
    for item in main:
        by_policy.setdefault(policy_key(Policy.from_dict(item.point.policy)), []).append(item)
    feasible = [
        key
        for key, items in by_policy.items()
        if not constraint_failures(Policy.from_dict(items[0].point.policy), weights)
    ]
    stats = SweepStats()
    counts = {key: first for key in by_policy}
    records, part = run_points([it.point for it in main + studies], folder, pool, None, progress)
    merge_stats(stats, part)
    rounds = 1
    summary: dict[str, Any] = {
        "procedure": "fixed" if first == cap else "KN",
        "first_stage": first,
        "cap": cap,
        "indifference": delta,
        "alpha": 0.05,
        "systems": len(feasible),
    }
    if first < cap and len(feasible) > 1:
        kn = KimNelson(feasible, n0=first, delta=delta, cap=cap)
        while True:
            obs = {
                key: cost_per_1k([records[it.point.key] for it in by_policy[key]], weights)
                for key in kn.survivors
            }
            kn.update(obs)
            wanted = kn.wanted(step)
            if not wanted:
                break
            counts.update(wanted)
            grown = [_grown(it, counts[key]) for key in wanted for it in by_policy[key]]
            got, part = run_points([it.point for it in grown], folder, pool, None, progress)
            records.update(got)
            merge_stats(stats, part)
            rounds += 1
        summary.update(
            separated=kn.separated,
            stages=kn.stage,
            eliminated_at=kn.eliminated_at,
            survivors=kn.survivors,
        )
    summary["rounds"] = rounds
    summary["counts"] = counts
    final = {it.point.key: it.point.replications for it in studies}
    for key, items in by_policy.items():
        for it in items:
            final[it.point.key] = max(final.get(it.point.key, 0), counts[key])
    stats.points = len(final)
    # Rounds re-read what earlier rounds ran: count what is on disk once, at the end.
    stats.replications_cached = sum(final.values()) - stats.replications_run
    key_of = {id(it): key for key, items in by_policy.items() for it in items}
    return [_grown(it, counts[key_of[id(it)]]) for it in main], summary, stats

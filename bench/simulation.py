"""Model throughput: simulated checkouts per wall-clock second, beside bare SimPy events.

Runs the shipped ``steady`` scenario (every checkout drives the real engine: start,
check, bind, the gateway and the buyer's waits) and, in the same process, a bare SimPy
loop of timeouts. It prints checkouts/s, SimPy events per checkout, and the cost of one
checkout in bare-timeout units, so the figure can be read on any machine. Wall time
includes freeing each replication's memory. ``--profile`` adds where the time goes, by
package.

    .venv/bin/python bench/simulation.py [--scenario steady] [--repeat 3] [--profile]
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder comes first on sys.path, where this very file would
# shadow the ``simulation`` package it measures.
if sys.path and os.path.realpath(sys.path[0] or ".") == os.path.dirname(os.path.realpath(__file__)):
    del sys.path[0]

import argparse
import cProfile
import gc
import pstats
import time
from collections import defaultdict

import simpy

from simulation import scenario as scenarios
from simulation.run import simulate
from verifier import Policy

BARE_EVENTS = 1_000_000


def bare_simpy(n: int = BARE_EVENTS) -> float:
    """Seconds per event of one process yielding ``n`` plain timeouts."""
    env = simpy.Environment()

    def ticker():
        timeout = env.timeout
        for _ in range(n):
            yield timeout(1.0)

    env.process(ticker())
    start = time.perf_counter()
    env.run()
    return (time.perf_counter() - start) / n


def checkouts(name: str, seed: int) -> tuple[int, int, float]:
    """(checkouts, SimPy events, wall seconds) of one replication, its clean-up included."""
    s = scenarios.load(name).replace(seed=seed)
    start = time.perf_counter()
    metrics = simulate(s, Policy.default()).metrics
    gc.collect()
    return metrics["checkouts"], metrics["sim_events"], time.perf_counter() - start


def profile(name: str) -> None:
    """Print the share of wall time per package, then the top functions."""
    s = scenarios.load(name).replace(seed=1000)  # numbers the parse cache has not seen
    profiler = cProfile.Profile()
    profiler.enable()
    simulate(s, Policy.default())
    gc.collect()
    profiler.disable()
    stats = pstats.Stats(profiler)
    groups: dict[str, float] = defaultdict(float)
    for (path, _, func), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        groups[_package(path, func)] += own
    total = sum(groups.values())
    print("\nself time by package (cProfile, so slower than the plain run):")
    for group, seconds in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {group:<28} {seconds:6.2f} s  {seconds / total:6.1%}")
    stats.sort_stats("cumulative").print_stats(18)


def engine_share(name: str) -> None:
    """Time spent inside the engine's public calls, against the whole replication."""
    from verifier.lifecycle import Verifier
    from verifier.registry import Registry

    spent = [0.0]
    originals = []

    def timed(cls, attr):
        original = getattr(cls, attr)
        originals.append((cls, attr, original))

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - start

        setattr(cls, attr, wrapper)

    for attr in ("start", "check", "resend", "cancel"):
        timed(Verifier, attr)
    timed(Registry, "bind")
    try:
        count, _, wall = checkouts(name, seed=2000)
    finally:
        for cls, attr, original in originals:
            setattr(cls, attr, original)
    engine = spent[0]
    print(
        f"\ninside the engine's calls: {engine / wall:.0%} of wall time "
        f"({engine / count * 1e6:.0f} µs of {wall / count * 1e6:.0f} µs per checkout)"
    )


def _package(path: str, func: str) -> str:
    for marker, name in (
        ("phonenumbers", "phonenumbers (parsing)"),
        ("/verifier/", "verifier (engine)"),
        ("/simpy/", "simpy"),
        ("/simulation/", "simulation (model)"),
        ("/pandas/", "pandas/numpy (KPIs)"),
        ("/numpy/", "pandas/numpy (KPIs)"),
        ("hmac", "hmac/hashlib"),
    ):
        if marker in path:
            return name
    if "hashlib" in func or "openssl" in func or "digest" in func:
        return "hmac/hashlib"
    if "gc" in func or "collect" in func:
        return "gc"
    return "other (builtins, stdlib)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="steady")
    parser.add_argument("--repeat", type=int, default=3, help="replications, best one kept")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    per_event = min(bare_simpy() for _ in range(3))
    runs = [checkouts(args.scenario, seed) for seed in range(1, args.repeat + 1)]
    count, events, wall = max(runs, key=lambda r: r[0] / r[2])
    per_checkout = wall / count
    print(f"bare SimPy timeouts:   {1 / per_event:12,.0f} events/s ({per_event * 1e6:.2f} µs each)")
    print(
        f"{args.scenario} scenario:  {count / wall:12,.0f} checkouts/s "
        f"({count:,} checkouts in {wall:.2f} s, best of {args.repeat})"
    )
    print(f"SimPy events:          {events / count:12.1f} per checkout")
    print(
        f"one checkout costs:    {per_checkout / per_event:12.0f} bare SimPy events "
        f"({per_checkout * 1e6:.0f} µs)"
    )
    if args.profile:
        engine_share(args.scenario)
        profile(args.scenario)


if __name__ == "__main__":
    main()

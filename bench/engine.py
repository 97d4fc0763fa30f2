"""Engine throughput: start+check flows per second on MemoryStore, beside a baseline.

The baseline, measured in the same process on the same numbers, is the bare
``phonenumbers.parse`` + ``number_type`` that any verifier must do for each number, so
the ratio says what the engine costs on top of phone parsing alone.

    .venv/bin/python bench/engine.py [--flows 20000] [--repeat 3] [--listen]

With ``--listen`` a listener that drops what it hears is subscribed, so the engine builds
every event (as in the simulation); without it the store drops events and none is built.
"""

from __future__ import annotations

import argparse
import cProfile
import itertools
import pstats
import time

import phonenumbers

from verifier import ManualClock, MemoryStore, Policy, Verifier


def make_numbers(n: int, offset: int) -> list[str]:
    """Distinct valid JP mobile numbers, so the engine's parse cache never hits."""
    return [f"+8190{10_000_000 + offset + i * 7:08d}" for i in range(n)]


def baseline(numbers: list[str]) -> float:
    start = time.perf_counter()
    for e164 in numbers:
        phonenumbers.number_type(phonenumbers.parse(e164, None))
    return time.perf_counter() - start


def flows(numbers: list[str], listen: bool = False) -> float:
    clock = ManualClock()
    codes = itertools.cycle(["123456"])
    sender = _NullSender()
    policy = Policy.default().replace(**{"fraud.min_check_delay_s": 0.0})
    v = Verifier(
        policy,
        MemoryStore(keep_events=False),
        sender,
        clock,
        hmac_key=b"bench" * 8,
        code_source=lambda n: next(codes),
        id_source=map("v{}".format, itertools.count()).__next__,
        listeners=[_drop] if listen else (),
    )
    start = time.perf_counter()
    for i, e164 in enumerate(numbers):
        ver = v.start(phone=e164, country=None, account_id=f"a{i}")
        v.check(ver.id, "123456")
    return time.perf_counter() - start


def _drop(event) -> None:
    """A listener that keeps nothing: it only makes the engine build its events."""


class _NullSender:
    """Hands messages nowhere: the benchmark measures the engine, not a sandbox list."""

    def send(self, message, tx) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    parser.add_argument("--listen", action="store_true", help="build every event")
    args = parser.parse_args()
    best_base = best_flow = float("inf")
    for r in range(args.repeat):
        numbers = make_numbers(args.flows, offset=r * args.flows * 7)
        best_base = min(best_base, baseline(numbers))
        numbers = make_numbers(args.flows, offset=(r + args.repeat) * args.flows * 7)
        best_flow = min(best_flow, flows(numbers, args.listen))
    n = args.flows
    print(f"baseline  phonenumbers parse+number_type: {n / best_base:10,.0f} numbers/s")
    print(f"engine    start+check flows (MemoryStore): {n / best_flow:10,.0f} flows/s")
    print(f"ratio     flow cost / baseline cost:       {best_flow / best_base:10.2f}x")
    if args.profile:
        numbers = make_numbers(n, offset=10**7)
        profiler = cProfile.Profile()
        profiler.runcall(flows, numbers, args.listen)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()

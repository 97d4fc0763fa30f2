"""Fraud agents: brute-forcer, SMS pumper, registration enumerator, account farmer.

Each agent acts at Poisson times (its ``[fraud]`` rate) until ``duration_s`` and meets
the engine's decisions like anyone else; what the policy costs them is the measurement.

* **Brute-forcer**: ``bruteforce_rate_per_s`` ``check()`` calls per second. Each
  verification starts on a fresh number of a reserved slice with a fresh account, then
  guesses distinct random codes (the optimal blind attacker: success per verification is
  at most ``max_attempts / 10**length``) until the engine refuses, then starts anew.
* **Pumper**: ``pumping_rate_per_s`` ``start()`` calls to consecutive numbers of one
  prefix (of ``pumping_country``), fresh accounts, never checks.
* **Enumerator**: ``enumeration_rate_per_s`` ``start()`` probes; a share
  ``enumeration_registered_share`` targets numbers registered to someone (recycled ones
  and those buyers bound), the rest fresh numbers; it counts what the answers reveal.
* **Account farmer**: ``farming_rate_per_s`` new accounts, one at a time, each verified
  on the next of ``farming_numbers`` SIMs it holds, then bound and released so the SIM
  can serve the next account.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import simpy

from verifier import VerificationError

from .durations import exponentials, integers, uniforms
from .gateway import Handset, next_sms
from .harness import Harness
from .kpis import Ledger
from .numbers import NumberPlan

FARM_PATIENCE_S = 120.0  # a farmer drops a verification whose SMS has not come by then
FARM_TYPE_S = 2.0  # automation reads and submits the code this long after delivery


class Agent:
    """What every fraud agent shares: the engine, the clock, the ledger, its own stream."""

    actor = "agent"

    def __init__(
        self,
        env: simpy.Environment,
        harness: Harness,
        plan: NumberPlan,
        ledger: Ledger,
        rng: np.random.Generator,
        rate_per_s: float,
        end_s: float,
        region: str,
    ) -> None:
        self.env = env
        self.verifier = harness.verifier
        self.plan = plan
        self.ledger = ledger
        self.counts = ledger.counts
        self.rng = rng
        self.gaps = exponentials(rng, rate_per_s)
        self.end_s = end_s
        self.region = region

    def start(self) -> simpy.Process:
        return self.env.process(self.run())

    def run(self):  # pragma: no cover - every agent overrides it
        raise NotImplementedError
        yield

    def record(
        self,
        session: int,
        began: float,
        outcome: str,
        sends: int = 0,
        checks: int = 0,
        wrong: int = 0,
        expired: int = 0,
        country: str | None = None,
        received: int | None = None,
    ) -> None:
        """Append this session's row (``kpis.COLUMNS``); buyer-only columns stay empty."""
        self.ledger.add(
            (self.actor, session, country or self.region, began, self.env.now, outcome, None,
             sends, checks, wrong, expired, received, None, False, False)
        )  # fmt: skip


class BruteForcer(Agent):
    actor = "bruteforce"

    def __init__(self, *args, code_length: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.code_length = code_length

    def run(self):
        env, v, counts, length = self.env, self.verifier, self.counts, self.code_length
        space = 10**length
        guesses = integers(self.rng, space)
        n = 0
        while env.now < self.end_s:
            n += 1
            began = env.now
            try:
                ver = v.start(self.plan.fresh(self.actor, self.region), self.region, f"bf_{n}")
            except VerificationError as err:
                self.record(n, began, err.code)
                yield env.timeout(next(self.gaps))
                continue
            counts["bruteforce_verifications"] += 1
            tried: set[int] = set()
            checks = wrong = 0
            outcome = "stopped"
            while True:
                yield env.timeout(next(self.gaps))
                if env.now >= self.end_s:
                    break
                guess = next(guesses)
                while guess in tried:
                    guess = next(guesses)
                tried.add(guess)
                if len(tried) >= space:
                    tried.clear()
                checks += 1
                counts["bruteforce_attempts"] += 1
                try:
                    v.check(ver.id, f"{guess:0{length}d}")
                except VerificationError as err:
                    if err.code == "incorrect_code":
                        wrong += 1
                        if err.attempts_left != 0:
                            continue
                        outcome = "locked_out"
                    else:
                        outcome = err.code
                    break
                else:
                    counts["bruteforce_successes"] += 1
                    outcome = "approved"
                    break
            self.record(n, began, outcome, 1, checks, wrong, int(outcome == "code_expired"))


class Pumper(Agent):
    actor = "pumping"

    def run(self):
        env, v, counts = self.env, self.verifier, self.counts
        numbers = self.plan.consecutive(self.actor, self.region)
        n = 0
        while True:
            yield env.timeout(next(self.gaps))
            if env.now >= self.end_s:
                return
            n += 1
            try:
                ver = v.start(next(numbers), self.region, f"pump_{n}")
            except VerificationError as err:
                counts["pumping_sms_blocked"] += 1
                self.record(n, env.now, err.code)
                continue
            counts["pumping_sms_sent"] += int(ver.created)
            self.record(n, env.now, "sent" if ver.created else "existing", int(ver.created))


class Enumerator(Agent):
    actor = "enumeration"

    def __init__(
        self, *args, registered: Sequence[tuple[str, str]], share: float, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.registered = registered
        self.share = share

    def run(self):
        env, v, counts = self.env, self.verifier, self.counts
        uniform = uniforms(self.rng)
        n = 0
        while True:
            yield env.timeout(next(self.gaps))
            if env.now >= self.end_s:
                return
            n += 1
            known = self.registered
            targets_registered = bool(known) and next(uniform) < self.share
            if targets_registered:
                number, country = known[int(next(uniform) * len(known))]
                counts["enumeration_registered_probes"] += 1
            else:
                number, country = self.plan.fresh(self.actor, self.region), self.region
            counts["enumeration_probes"] += 1
            try:
                ver = v.start(number, country, f"enum_{n}")
            except VerificationError as err:
                if targets_registered and err.code == "phone_number_already_registered":
                    counts["enumeration_revealed"] += 1
                self.record(n, env.now, err.code, country=country)
                continue
            counts["enumeration_sms_sent"] += int(ver.created)
            self.record(n, env.now, "sent", int(ver.created), country=country)


class Farmer(Agent):
    actor = "farming"

    def __init__(self, *args, handsets: dict[str, Handset], sims: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sims = self.plan.sims(self.actor, self.region, sims)
        self.handsets = handsets
        for number in self.sims:
            handsets[number] = Handset()

    def run(self):
        env, v, counts = self.env, self.verifier, self.counts
        n = 0
        while True:
            yield env.timeout(next(self.gaps))
            if env.now >= self.end_s:
                return
            number = self.sims[n % len(self.sims)]
            n += 1
            account, began = f"farm_{n}", env.now
            handset = self.handsets[number]
            counts["farming_attempts"] += 1
            try:
                ver = v.start(number, self.region, account)
            except VerificationError as err:
                counts["farming_blocked"] += 1
                self.record(n, began, err.code)
                continue
            before = handset.received
            yield next_sms(env, handset, env.now + FARM_PATIENCE_S)
            handset.waiter = None
            if handset.received == before:
                self.record(n, began, "no_sms", 1, received=0)
                continue
            yield env.timeout(FARM_TYPE_S)
            try:
                v.check(ver.id, handset.code)
                v.registry.bind(account, ver.id)
                v.registry.release(account)
            except VerificationError as err:
                counts["farming_blocked"] += 1
                self.record(n, began, err.code, 1, 1, received=1)
                continue
            counts["farming_accounts"] += 1
            self.record(n, began, "approved", 1, 1, received=1)

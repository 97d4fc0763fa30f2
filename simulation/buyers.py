"""Legitimate buyers: one SimPy process per checkout, acting on the engine's answers.

The reference reading of a buyer (``docs/simulation.md``):

* arrives with a distinct number of one of the scenario's countries and a new account;
  a share first types a landline/VoIP number by mistake and re-enters the right one;
* resends when no SMS has arrived ``resend_after_s`` after the last send, waiting out
  ``resend_too_soon`` (and ``rate_limited``) for the ``retry_after_s`` the engine gives;
* when a code arrives, reads and types the most recently *delivered* one after a fresh
  ``read_type_s`` draw; with probability ``typo_rate`` one digit is wrong;
* retypes after ``incorrect_code``, resends after ``code_expired``; a lockout (the wrong
  code that leaves no attempts) or any other refusal ends the session;
* gives up ``give_up_after_s`` after arrival; approved buyers bind their number;
* a share ``call_after_help_share`` of the buyers whose phones reject SMS read the help
  and, ``help_delay_s`` after arriving, ask for the code by phone call; from then on
  their resends are calls (a call that is not answered is asked for again);
* with a ``[payments]`` table, each start carries the buyer's payment; one approved at once
  (step-up ``none``) ends the session with no SMS.

Waiting for "an SMS or a deadline" is one plain event that the handset or a timeout
triggers, whichever comes first; no timeout is scheduled per code TTL.
"""

from __future__ import annotations

from array import array
from contextlib import suppress

import numpy as np
import simpy

from verifier import VerificationError

from .durations import stream, uniforms
from .gateway import Handset, next_sms
from .harness import Harness
from .kpis import Ledger
from .numbers import BuyerNumbers, NumberPlan
from .scenario import Scenario

INF = float("inf")


def mistype(code: str) -> str:
    """The code with its last digit slipped by one: always a wrong code of the same length."""
    return code[:-1] + str((int(code[-1]) + 1) % 10)


def flags(values: np.ndarray) -> bytes:
    """One byte (0 or 1) per buyer, where a list of bools takes an 8-byte slot each."""
    return np.asarray(values, dtype=bool).astype(np.uint8).tobytes()


class Registered:
    """Buyers' numbers bound to an account, in the order they were bound.

    Kept as buyer indices (8 bytes each); ``registered[k]`` is ``(number, country)``.
    """

    def __init__(self, numbers: BuyerNumbers) -> None:
        self._numbers = numbers
        self._buyers = array("q")

    def append(self, buyer: int) -> None:
        self._buyers.append(buyer)

    def __len__(self) -> int:
        return len(self._buyers)

    def __getitem__(self, k: int) -> tuple[str, str]:
        i = self._buyers[k]
        return self._numbers.number(i), self._numbers.country(i)


def _retry(err: VerificationError) -> float:
    """How long the engine asked to wait, never zero (its answer is rounded to 1 ms)."""
    return max(err.retry_after_s or 0.0, 0.001)


class Buyers:
    """All buyers of one replication, arriving at pre-drawn times."""

    def __init__(
        self,
        env: simpy.Environment,
        harness: Harness,
        scenario: Scenario,
        plan: NumberPlan,
        handsets: dict[str, Handset],
        ledger: Ledger,
        rng: np.random.Generator,
        times: np.ndarray,
        numbers: BuyerNumbers,
        recycled: bytes | bytearray,
        registered: Registered,
        payments: list[dict] | None = None,
        callers: np.random.Generator | None = None,
    ) -> None:
        users = scenario.users
        self.payments = payments  # one payment summary per buyer, or none at all
        self.env = env
        self.verifier = harness.verifier
        self.plan = plan
        self.handsets = handsets
        self.ledger = ledger
        self.registered = registered
        # Per-buyer inputs stay in flat arrays: plain floats and bytes, not a list each.
        self.times = array("d", np.asarray(times, dtype=float).tobytes())
        self.numbers = numbers
        self.recycled = recycled
        n = len(self.times)
        self.blocked = flags(rng.random(n) < users.blocks_sms_share)
        self.landline = flags(rng.random(n) < scenario.numbers.landline_typo_share)
        share = users.call_after_help_share
        # Drawn from their own stream, so the buyers' other draws stay as they were.
        self.callers = flags(callers.random(n) < share) if share and callers else bytes(n)
        self.help_delay = users.help_delay_s
        self._read_type = stream(users.read_type_s.block(rng))
        self._uniform = uniforms(rng)
        self.typo_rate = users.typo_rate
        self.resend_after = users.resend_after_s
        self.give_up_after = users.give_up_after_s

    def start(self) -> simpy.Process:
        return self.env.process(self._arrivals())

    def _arrivals(self):
        env, buyer = self.env, self._buyer
        for i, t in enumerate(self.times):
            yield env.timeout(t - env.now)
            env.process(buyer(i))

    def _buyer(self, i: int):
        env, v = self.env, self.verifier
        arrival = env.now
        deadline = arrival + self.give_up_after
        country, number = self.numbers.country(i), self.numbers.number(i)
        account = f"buyer_{i}"
        handset = Handset(self.blocked[i] == 1)
        self.handsets[number] = handset
        sends = checks = wrong = expired = 0
        outcome, ttv = "gave_up", None

        if self.landline[i]:
            yield from self._landline_first(country, account)
        payment = None if self.payments is None else self.payments[i]
        try:
            ver = v.start(number, country, account, payment=payment)
        except VerificationError as err:
            self._record(i, arrival, err.code, None, 0, 0, 0, 0, number, handset)
            return
        if ver.stepup == "none":
            # A low-risk payment: approved at once, no SMS, nothing to bind, no time to
            # verify (``ttv_s`` stays empty: it measures codes).
            self.ledger.counts["codes_skipped"] += 1
            self.ledger.approved_at.append(env.now)
            self._record(i, arrival, "approved", None, 0, 0, 0, 0, number, handset)
            return
        vid = ver.id
        sends = 1
        read_type, uniform, typo_rate = self._read_type, self._uniform, self.typo_rate
        resend_after = self.resend_after
        counts = self.ledger.counts
        channel = "sms"
        # A phone that rejects SMS, and a person who reads the help: a call, later.
        call_at = arrival + self.help_delay if self.callers[i] and handset.blocked else INF
        next_resend = env.now + resend_after  # impatience: resend if nothing came by then
        retry_at = 0.0  # the engine's retry_after_s: no resend before this
        received_at_send = handset.received
        seen = 0
        to_type = need_resend = False
        sends_left = True
        while True:
            if handset.received > seen:
                seen = handset.received
                to_type = True
            if to_type:
                to_type = False
                yield env.timeout(next(read_type))
                seen = handset.received
                code = handset.code
                if next(uniform) < typo_rate:
                    code = mistype(code)
                checks += 1
                try:
                    v.check(vid, code)
                except VerificationError as err:
                    reason = err.code
                    if reason == "incorrect_code":
                        wrong += 1
                        if err.attempts_left == 0:
                            outcome = "locked_out"
                            break
                        to_type = True
                        continue
                    if reason == "code_expired":
                        expired += 1
                        need_resend = True
                    elif reason == "rate_limited":
                        yield env.timeout(_retry(err))
                        to_type = True
                        continue
                    else:
                        outcome = reason
                        break
                else:
                    outcome, ttv = "approved", env.now - arrival
                    self.ledger.approved_at.append(env.now)
                    if channel == "call":
                        counts["approved_by_call"] += 1
                    try:
                        v.registry.bind(account, vid)
                    except VerificationError:
                        pass  # approved all the same; the binding was refused
                    else:
                        self.registered.append(i)
                    break
            now = env.now
            if now >= deadline:
                break
            if channel == "sms" and now >= call_at:
                channel, sends_left, next_resend = "call", True, now  # ask for a call now
                counts["buyers_asking_for_a_call"] += 1
            if need_resend and not sends_left:
                outcome = "max_sends_reached"
                break
            silent = handset.received == received_at_send  # no SMS since the last send
            if sends_left and now >= retry_at and (need_resend or (silent and now >= next_resend)):
                try:
                    v.resend(vid, channel=channel)
                except VerificationError as err:
                    reason = err.code
                    if reason in ("resend_too_soon", "rate_limited"):
                        retry_at = now + _retry(err)
                    elif reason == "max_sends_reached":
                        sends_left = False
                        if need_resend:
                            outcome = reason
                            break
                    else:
                        outcome = reason
                        break
                else:
                    if channel == "sms":
                        sends += 1
                    else:
                        counts["buyer_calls"] += 1
                    need_resend = False
                    next_resend = now + resend_after
                    received_at_send = handset.received
                    silent = True
            wake_at = deadline if channel == "call" else min(deadline, call_at)
            if sends_left:
                if need_resend:
                    wake_at = min(wake_at, retry_at)
                elif silent:
                    wake_at = min(wake_at, max(next_resend, retry_at))
            yield next_sms(env, handset, wake_at)
            handset.waiter = None
        self._record(i, arrival, outcome, ttv, sends, checks, wrong, expired, number, handset)

    def _landline_first(self, country: str, account: str):
        """Type a landline/VoIP number by mistake, then take the time to re-enter the number."""
        env, v = self.env, self.verifier
        mistake = self.plan.landline(country)
        if mistake is None:
            return
        try:
            typo_ver = v.start(mistake, country, account)
        except VerificationError as err:
            # Refused, as it should be: the buyer re-enters the number. The refusal's
            # traceback holds a reference cycle (the engine's frame keeps the error) that
            # the paused collector would never free: let it go with the traceback.
            err.__traceback__ = None
        else:
            # Accepted: a code goes to a landline. The buyer waits for it, then re-enters.
            yield env.timeout(self.resend_after)
            with suppress(VerificationError):
                v.cancel(typo_ver.id)
        yield env.timeout(next(self._read_type))

    def _record(
        self, i, arrival, outcome, ttv, sends, checks, wrong, expired, number, handset
    ) -> None:
        # The session is over: its phone leaves the gateway's directory (a later SMS to
        # it is counted as delivered and reaches no one, as it would reach no one waiting).
        if self.handsets.get(number) is handset:
            del self.handsets[number]
        self.ledger.add(
            (
                "buyer",
                i,
                self.numbers.country(i),
                arrival,
                self.env.now,
                outcome,
                ttv,
                sends,
                checks,
                wrong,
                expired,
                handset.received,
                handset.blocked,
                self.recycled[i] == 1,
                self.landline[i] == 1,
            )
        )

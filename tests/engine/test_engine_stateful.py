"""Hypothesis stateful test: the engine against a small model of the verification rules.

Invariants checked after every step (SP 800-63B 3.1.3.2 and 3.2.2, ASVS 2.7.3):
never more than ``max_attempts`` wrong checks per verification, never approval with a
wrong or expired code, never two approvals from one code, never a send during the
cooldown or past the cap. A resend SHALL NOT reset the failed-attempt count, and neither
may cancel + start ("re-enter phone number"): within ``send.window_s`` the sends of one
account and number share one cooldown and one cap across verifications.
"""

from __future__ import annotations

import itertools

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from verifier import ManualClock, MemoryStore, Policy, SandboxSender, Verifier
from verifier.errors import (
    CodeExpired,
    IncorrectCode,
    LockedOut,
    MaxSendsReached,
    ResendTooSoon,
    VerificationError,
    VerificationNotPending,
)

POLICY = Policy.from_toml(
    """
[code]
ttl_s = 60
[send]
resend_cooldown_s = [10, 20]
max_sends = 3
window_s = 300
[check]
max_attempts = 3
lockout_s = 100
[limits]
per_number_per_day = 0
per_number_per_15min = 0
per_ip_per_hour = 0
failures_per_account_per_hour = 0
failures_per_number_per_hour = 0
[fraud]
min_check_delay_s = 0
"""
)
E164 = "+819012345678"


class VerificationMachine(RuleBasedStateMachine):
    """Drives start/resend/check/cancel/advance-time and compares with the model."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.sender = SandboxSender()
        self.v = Verifier(POLICY, MemoryStore(), self.sender, self.clock, hmac_key=b"k" * 32)
        self.model: dict | None = None  # the current verification, as the model sees it
        self.lock_until = 0.0
        self.wrong: dict[str, int] = {}
        self.approvals: dict[str, int] = {}
        self.send_times: dict[str, list[float]] = {}
        self.budget: list[float] = []  # sends to acct+number since the last approval
        self.all_sends: list[list[float]] = [[]]  # the same, one list per approval period

    # -- the model's expectations ---------------------------------------------------

    def _refusal_if_not_open(self, m: dict, now: float) -> type[VerificationError] | None:
        if m["state"] in ("approved", "cancelled"):
            return VerificationNotPending
        if m["state"] == "locked":
            return LockedOut if now < m["locked_until"] else VerificationNotPending
        return None

    def _expect(self, expected, call):
        try:
            result = call()
        except VerificationError as err:
            assert expected is not None and isinstance(err, expected), (expected, err)
            return None
        assert expected is None, f"expected {expected.__name__}, got {result}"
        return result

    def _record_send(self, vid: str) -> None:
        self.send_times.setdefault(vid, []).append(self.clock.now())
        self.budget.append(self.clock.now())
        self.all_sends[-1].append(self.clock.now())

    def _prior(self, now: float) -> list[float]:
        return [t for t in self.budget if t > now - 300]

    # -- rules -------------------------------------------------------------------

    @rule()
    def start(self):
        now, m = self.clock.now(), self.model
        before = len(self.sender.messages(E164))
        if now < self.lock_until:
            self._expect(LockedOut, lambda: self.v.start(E164, None, "acct"))
            assert len(self.sender.messages(E164)) == before
            return
        reuse = m and m["state"] == "pending" and now < m["expires_at"]
        prior = [] if reuse else self._prior(now)
        expected = None
        if prior and len(prior) >= 3:
            expected = MaxSendsReached
        elif prior and now < prior[-1] + (10, 20)[min(len(prior) - 1, 1)]:
            expected = ResendTooSoon
        ver = self._expect(expected, lambda: self.v.start(E164, None, "acct"))
        if expected is not None:
            assert len(self.sender.messages(E164)) == before
            return
        if reuse:
            assert ver.id == m["id"] and not ver.created
            assert len(self.sender.messages(E164)) == before
            return
        assert ver.created and len(self.sender.messages(E164)) == before + 1
        code = self.sender.messages(E164)[-1].code
        self.model = {
            "id": ver.id,
            "state": "pending",
            "wrong": 0,
            "sends": len(prior) + 1,
            "last_send": now,
            "expires_at": now + 60,
            "code": code,
            "old": [],
            "locked_until": None,
        }
        self._record_send(ver.id)

    @precondition(lambda self: self.model is not None)
    @rule()
    def resend(self):
        now, m = self.clock.now(), self.model
        expected = self._refusal_if_not_open(m, now)
        cooldown = (10, 20)[min(m["sends"] - 1, 1)]
        if expected is None and m["sends"] >= 3:
            expected = MaxSendsReached
        if expected is None and now < m["last_send"] + cooldown:
            expected = ResendTooSoon
        ver = self._expect(expected, lambda: self.v.resend(m["id"]))
        if ver is None:
            return
        m["old"].append(m["code"])
        m.update(
            sends=m["sends"] + 1,
            last_send=now,
            expires_at=now + 60,
            code=self.sender.messages(E164)[-1].code,
        )
        assert ver.attempts_left == 3 - m["wrong"]  # a resend resets nothing
        self._record_send(m["id"])

    @precondition(lambda self: self.model is not None)
    @rule(
        kind=st.sampled_from(["correct", "old", "guess"]),
        guess=st.from_regex(r"\d{6}", fullmatch=True),
    )
    def check(self, kind, guess):
        now, m = self.clock.now(), self.model
        typed = {"correct": m["code"], "old": (m["old"] or [guess])[-1], "guess": guess}[kind]
        expected = self._refusal_if_not_open(m, now)
        if expected is None and now >= m["expires_at"]:
            expected = CodeExpired
        right = expected is None and typed == m["code"]
        if expected is None and not right:
            expected = IncorrectCode
        ver = self._expect(expected, lambda: self.v.check(m["id"], typed))
        if right:
            assert ver.status == "approved"
            m["state"] = "approved"
            self.budget = []  # proof of possession clears the shared budget
            self.all_sends.append([])
            self.approvals[m["id"]] = self.approvals.get(m["id"], 0) + 1
        elif expected is IncorrectCode:
            m["wrong"] += 1
            self.wrong[m["id"]] = m["wrong"]
            if m["wrong"] >= 3:
                m.update(state="locked", locked_until=now + 100)
                self.lock_until = now + 100

    @precondition(lambda self: self.model is not None)
    @rule()
    def cancel(self):
        m = self.model
        expected = None if m["state"] == "pending" else VerificationNotPending
        if self._expect(expected, lambda: self.v.cancel(m["id"])) is not None:
            m["state"] = "cancelled"

    @rule(seconds=st.sampled_from([0.5, 5, 10, 20, 59, 61, 100]))
    def advance(self, seconds):
        self.clock.advance(seconds)

    # -- invariants ------------------------------------------------------------------

    @invariant()
    def engine_agrees_with_the_model(self):
        if self.model is None:
            return
        ver = self.v.get(self.model["id"])
        assert ver.attempts_left == 3 - self.model["wrong"]
        assert ver.sends_left == 3 - self.model["sends"]

    @invariant()
    def never_more_than_max_attempts_wrong(self):
        assert all(n <= 3 for n in self.wrong.values())

    @invariant()
    def never_two_approvals(self):
        assert all(n <= 1 for n in self.approvals.values())

    @invariant()
    def never_a_send_in_cooldown_or_past_the_cap(self):
        for times in self.send_times.values():
            assert len(times) <= 3
            gaps = [b - a for a, b in itertools.pairwise(times)]
            assert all(gap >= (10, 20)[min(i, 1)] for i, gap in enumerate(gaps))

    @invariant()
    def cancel_and_start_never_beat_the_shared_budget(self):
        for period in self.all_sends:
            for i, at in enumerate(period):
                prior = [t for t in period[:i] if t > at - 300]
                assert len(prior) < 3  # never a 4th send in one window
                if prior:
                    assert at - prior[-1] >= (10, 20)[min(len(prior) - 1, 1)]


VerificationMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None
)
TestVerificationMachine = VerificationMachine.TestCase

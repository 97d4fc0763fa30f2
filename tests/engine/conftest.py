"""Fixtures for the engine's unit tests: a manual clock, a memory store, a sandbox."""

from __future__ import annotations

import itertools

import pytest

from verifier import ManualClock, MemoryStore, Policy, SandboxSender, Verifier

JP_MOBILE = "090-1234-5678"
JP_E164 = "+819012345678"


class Harness:
    """One engine with its parts exposed, plus shortcuts the tests share."""

    def __init__(self, policy: Policy) -> None:
        self.clock = ManualClock()
        self.sender = SandboxSender()
        self.store = MemoryStore()
        self.events: list = []
        codes = (f"{n:06d}" for n in itertools.count(111111, 111111))
        self.v = Verifier(
            policy=policy,
            store=self.store,
            sender=self.sender,
            clock=self.clock,
            hmac_key=b"k" * 32,
            code_source=lambda length: next(codes)[-length:].rjust(length, "0"),
            listeners=[self.events.append],
        )

    def start(self, phone: str = JP_MOBILE, account: str = "acct-1", **kw):
        return self.v.start(phone=phone, country=kw.pop("country", "JP"), account_id=account, **kw)

    def last_code(self, e164: str = JP_E164) -> str:
        return self.sender.messages(e164)[-1].code

    def sent(self, e164: str = JP_E164) -> int:
        return len(self.sender.messages(e164))

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]


@pytest.fixture
def make():
    """Build a harness whose policy changes the given dotted keys of the default."""

    def build(**dotted) -> Harness:
        policy = Policy.default()
        if dotted:
            policy = policy.replace(**{k.replace("__", "."): v for k, v in dotted.items()})
        return Harness(policy)

    return build


@pytest.fixture
def h(make) -> Harness:
    """The default policy, with the check-delay detector off so tests need not wait, and
    the per-number failure cap (4 an hour, under ``max_attempts``) off so that each
    verification rule is seen alone; ``test_engine_hardening`` tests the cap."""
    return make(fraud__min_check_delay_s=0.0, limits__failures_per_number_per_hour=0)

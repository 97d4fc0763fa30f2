"""What a third party who knows a victim's number can do to the victim, and for how long
(docs/policy.md, "Victim denial"; ``bench/denial.py`` measures the same on a timeline)."""

from __future__ import annotations

import pytest

from verifier.errors import IncorrectCode, LockedOut, RateLimited, VerificationError

QUIET = {"fraud__min_check_delay_s": 0.0}


def _third_party_burst(h, accounts, phone="090-1234-5678"):
    for account in accounts:
        try:
            ver = h.start(phone=phone, account=account)
        except VerificationError:
            continue
        for _ in range(5):
            try:
                h.v.check(ver.id, "000000")
            except IncorrectCode:
                continue
            except (RateLimited, LockedOut):
                break


def _victim_wait(h, account="victim"):
    """Seconds until the victim's own start + right code is approved, waiting as told."""
    began = h.clock.now()
    for _ in range(50):
        try:
            ver = h.start(account=account, reference=f"order-{h.clock.now()}")
            h.v.check(ver.id, h.last_code())
            return h.clock.now() - began
        except (RateLimited, LockedOut) as err:
            h.clock.advance(err.retry_after_s + 0.01)
    raise AssertionError("the victim never got through")


def test_knowing_only_an_unbound_number_denies_it_for_at_most_the_failure_window(make):
    h = make(**QUIET)
    _third_party_burst(h, [f"third-{i}" for i in range(20)])
    assert 0 < _victim_wait(h) <= 3600 + 1


def test_knowing_only_a_number_never_denies_its_owner(make):
    h = make(**QUIET)
    ver = h.start(account="victim")
    h.v.registry.bind("victim", h.v.check(ver.id, h.last_code()).id)
    h.clock.advance(3600)
    _third_party_burst(h, [f"third-{i}" for i in range(20)])
    assert _victim_wait(h) == 0.0


def test_with_the_account_id_a_burst_denies_for_the_lockout_at_most(make):
    h = make(**QUIET)
    ver = h.start(account="victim")
    h.v.registry.bind("victim", h.v.check(ver.id, h.last_code()).id)
    h.clock.advance(3600)
    _third_party_burst(h, ["victim"])
    wait = _victim_wait(h)
    assert wait == pytest.approx(h.v.policy.check.lockout_s, abs=1)

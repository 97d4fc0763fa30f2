"""The rules that hold against a hostile caller: the purchase step, one number per account
at every step, send budgets that survive cancel + start, failures counted beyond one
verification, IPv6 /64 limits, disputes that leak nothing, retention of events."""

from __future__ import annotations

import contextlib

import pytest

from verifier.errors import (
    AlreadyConsumed,
    ApprovalExpired,
    IncorrectCode,
    LockedOut,
    MaxSendsReached,
    NotFound,
    PhoneNumberAlreadyRegistered,
    RateLimited,
    ReferenceMismatch,
    ResendTooSoon,
    VerificationError,
    VerificationNotPending,
)

JP_E164 = "+819012345678"
QUIET = {"fraud__min_check_delay_s": 0.0}


def approved(h, account="acct-1", reference="order-1", phone="090-1234-5678"):
    ver = h.start(phone=phone, account=account, reference=reference)
    return h.v.check(ver.id, h.sender.messages(ver.phone)[-1].code)


# -- the purchase step ---------------------------------------------------------------


def test_consume_succeeds_once_for_its_own_order(make):
    h = make(**QUIET)
    ver = approved(h)
    with pytest.raises(ReferenceMismatch):
        h.v.consume(ver.id, "order-2")
    done = h.v.consume(ver.id, "order-1")
    assert done.status == "consumed" and done.consumed_at == h.clock.now()
    with pytest.raises(AlreadyConsumed):
        h.v.consume(ver.id, "order-1")
    assert [e.reason for e in h.events if e.kind == "refused"] == [
        "reference_mismatch",
        "already_consumed",
    ]
    assert sum(e.kind == "consumed" for e in h.events) == 1


def test_an_approval_expires_for_the_purchase_step(make):
    h = make(**QUIET, check__approval_ttl_s=600)
    ver = approved(h)
    h.clock.advance(600.5)
    with pytest.raises(ApprovalExpired):
        h.v.consume(ver.id, "order-1")
    with pytest.raises(ApprovalExpired):
        h.v.registry.bind("acct-1", ver.id)


def test_only_an_approved_verification_can_be_consumed(make):
    h = make(**QUIET)
    ver = h.start(reference="order-1")
    with pytest.raises(VerificationNotPending):
        h.v.consume(ver.id, "order-1")
    with pytest.raises(NotFound):
        h.v.consume("ver_nope", "order-1")
    done = approved(h, account="acct-2", reference=None, phone="090-1111-2222")
    assert h.v.consume(done.id).status == "consumed"  # no reference on either side
    with pytest.raises(VerificationNotPending):
        h.v.check(done.id, "123456")


def test_a_start_for_another_order_replaces_the_pending_one(make):
    h = make(**QUIET)
    first = h.start(reference="order-A")
    assert h.start(reference="order-A").id == first.id  # same order: the pending one
    with pytest.raises(ResendTooSoon):  # another order counts against the same cooldown
        h.start(reference="order-B")
    h.clock.advance(30)
    second = h.start(reference="order-B")
    assert second.created and second.id != first.id and second.reference == "order-B"
    assert h.v.get(first.id).status == "cancelled"
    assert second.sends_left == 3  # the first one's send still counts
    cancelled = [e for e in h.events if e.kind == "cancelled"]
    assert [(e.verification_id, e.reason) for e in cancelled] == [(first.id, "replaced")]


# -- one number, one account ------------------------------------------------------------


@pytest.mark.parametrize("reveal", ["immediately", "after_verification", "never"])
def test_a_number_bound_to_another_account_never_approves(make, reveal):
    h = make(**QUIET, numbers__reveal_registered=reveal)
    ver = h.start(account="acct-2")  # before acct-1 binds: the start cannot refuse
    code = h.last_code()
    h.v.registry.bind("acct-1", approved(h, account="acct-1").id)
    with pytest.raises(PhoneNumberAlreadyRegistered):
        h.v.check(ver.id, code)
    assert h.v.get(ver.id).status == "cancelled"


def test_the_loser_of_a_race_for_one_number_cannot_consume(make):
    h = make(**QUIET)
    a = approved(h, account="acct-a", reference="order-a")
    b = approved(h, account="acct-b", reference="order-b")
    h.v.registry.bind("acct-a", a.id)
    with pytest.raises(PhoneNumberAlreadyRegistered):
        h.v.registry.bind("acct-b", b.id)
    with pytest.raises(PhoneNumberAlreadyRegistered):
        h.v.consume(b.id, "order-b")
    assert h.v.consume(a.id, "order-a").status == "consumed"
    assert h.v.registry.owner(JP_E164) == "acct-a"


# -- send budgets that survive re-entering the number ------------------------------------------


def _sms_after(h, attempt, cycles=20, step_s=31.0) -> int:
    for _ in range(cycles):
        with contextlib.suppress(VerificationError):
            attempt()
        h.clock.advance(step_s)
    return h.sent()


@pytest.mark.parametrize("step_s", [1.0, 15.0, 29.0, 61.0, 179.0])
def test_cancel_and_start_sends_no_more_than_resends_would(make, step_s):
    """Seed: "Re-enter phone number" cancels and starts anew, and counts against the same
    limits. 20 cancel+start cycles (inside one ``send.window_s``) send no more SMS than
    20 resends would."""
    resends = make(**QUIET)
    ver = resends.start()
    by_resend = _sms_after(resends, lambda: resends.v.resend(ver.id), step_s=step_s)

    cycles = make(**QUIET)
    state = {"id": cycles.start().id}

    def cancel_and_start():
        with contextlib.suppress(VerificationError):
            cycles.v.cancel(state["id"])
        state["id"] = cycles.start().id

    by_cycle = _sms_after(cycles, cancel_and_start, step_s=step_s)
    assert by_cycle <= by_resend <= 5


def test_over_a_long_run_cancel_and_start_never_beat_the_window(make):
    h = make(**QUIET, send__window_s=600)
    state = {"id": h.start().id}
    times = [h.clock.now()]
    for _ in range(200):
        h.clock.advance(7)
        with contextlib.suppress(VerificationError):
            h.v.cancel(state["id"])
        try:
            state["id"] = h.start().id
            times.append(h.clock.now())
        except VerificationError:
            pass
    assert all(sum(t - 600 < u <= t for u in times) <= 5 for t in times)


def test_the_shared_budget_frees_itself_after_its_window(make):
    h = make(**QUIET, send__window_s=600, limits__per_number_per_15min=0)
    ver = h.start()
    for wait in (30, 60, 120, 120):
        h.clock.advance(wait)
        h.v.resend(ver.id)
    h.v.cancel(ver.id)
    h.clock.advance(120)
    with pytest.raises(MaxSendsReached) as err:
        h.start()
    assert err.value.retry_after_s is not None and err.value.retry_after_s > 0
    h.clock.advance(err.value.retry_after_s + 0.01)
    assert h.start().created


def test_an_approval_clears_the_shared_budget(make):
    h = make(**QUIET)
    approved(h, reference="order-1")
    assert h.start(reference="order-2").created  # the next order starts at once


# -- failures beyond one verification ---------------------------------------------------


def _wrong_codes(h, n, account="acct-1", phone="090-1234-5678"):
    """Type ``n`` wrong codes, starting fresh verifications of distinct numbers as needed."""
    typed = 0
    serial = 0
    while typed < n:
        serial += 1
        ver = h.start(phone=phone or f"090-{2000 + serial}-0000", account=account)
        for _ in range(min(4, n - typed)):  # stay under the per-verification lockout
            with pytest.raises(IncorrectCode):
                h.v.check(ver.id, "000000")
            typed += 1
        h.v.cancel(ver.id)
        h.clock.advance(121)


def test_failures_are_counted_per_account_across_verifications(make):
    h = make(**QUIET, limits__failures_per_account_per_hour=8)
    _wrong_codes(h, 8, phone=None)
    ver = h.start(phone="090-5555-0000")
    with pytest.raises(RateLimited):
        h.v.check(ver.id, h.sender.messages(ver.phone)[-1].code)
    assert any(e.reason == "rate_limited:failures" for e in h.events)


def test_failures_are_counted_per_number_across_accounts(make):
    h = make(**QUIET, limits__failures_per_number_per_hour=6)
    for account in ("a", "b"):
        ver = h.start(account=account)
        for _ in range(3):
            with pytest.raises(IncorrectCode):
                h.v.check(ver.id, "000000")
    ver = h.start(account="c")
    with pytest.raises(RateLimited):
        h.v.check(ver.id, h.last_code())


def test_no_account_gets_more_consecutive_failures_than_the_limit(make):
    """SP 800-63B 3.2.2: no more than 100 consecutive failed attempts on one account,
    however they are spread over days."""
    h = make(
        **QUIET,
        limits__consecutive_failures_per_account=12,
        limits__failures_per_account_per_hour=0,
        limits__failures_per_number_per_hour=0,
    )
    for _ in range(3):
        _wrong_codes(h, 4, phone=None)
        h.clock.advance(86400)  # a day between bursts: no window lets them off
    with pytest.raises(LockedOut) as err:
        h.start(phone="090-7777-0000")
    assert err.value.retry_after_s is None
    assert sum(e.kind == "account_locked" for e in h.events) == 1
    assert h.v.unlock_account("acct-1") is True
    assert approved(h, phone="090-7777-0000").status == "approved"


def test_an_approval_resets_the_consecutive_count(make):
    h = make(
        **QUIET, limits__consecutive_failures_per_account=5, limits__failures_per_number_per_hour=0
    )
    _wrong_codes(h, 4, phone=None)
    approved(h, phone="090-8888-0000")
    _wrong_codes(h, 4, phone=None)
    assert approved(h, phone="090-8888-1111").status == "approved"


# -- IPv6 /64 ---------------------------------------------------------------------------


def test_ipv6_addresses_are_limited_per_64(make):
    h = make(**QUIET, limits__per_ip_per_hour=2)
    h.start(phone="090-1000-0001", account="a", client_ip="2001:db8:1:2::1")
    h.start(phone="090-1000-0002", account="b", client_ip="2001:db8:1:2:ffff::9")
    with pytest.raises(RateLimited):
        h.start(phone="090-1000-0003", account="c", client_ip="2001:db8:1:2:abcd::1")
    assert h.start(phone="090-1000-0004", account="d", client_ip="2001:db8:1:3::1").created


# -- disputes -----------------------------------------------------------------------------


def test_under_never_a_dispute_answers_alike_for_free_and_registered_numbers(make):
    h = make(**QUIET, numbers__reveal_registered="never")
    h.v.registry.bind("acct-1", approved(h).id)
    registered = h.v.registry.open_dispute("090-1234-5678", "claimant-1", "JP")
    free = h.v.registry.open_dispute("090-4444-5555", "claimant-2", "JP")
    shape = ("status", "resolved_at", "decision")
    assert [registered[k] for k in shape] == [free[k] for k in shape] == ["open", None, None]
    h.v.registry.bind("late-owner", approved(h, account="late-owner", phone="090-4444-5555").id)
    h.v.registry.resolve_dispute(free["id"], "release")
    assert h.v.registry.owner("+819044445555") == "late-owner"  # not the dispute's owner


def test_without_never_a_free_number_has_nothing_to_dispute(make):
    h = make(**QUIET)
    with pytest.raises(NotFound):
        h.v.registry.open_dispute("090-4444-5555", "claimant-1", "JP")


def test_disputes_are_rate_limited_per_claimant(make):
    h = make(**QUIET, numbers__reveal_registered="never", limits__disputes_per_account_per_day=2)
    for i in range(2):
        h.v.registry.open_dispute(f"090-4444-000{i}", "claimant", "JP")
    with pytest.raises(RateLimited):
        h.v.registry.open_dispute("090-4444-0009", "claimant", "JP")
    assert h.v.registry.get_dispute(h.v.registry.open_dispute("090-4444-0009", "other", "JP")["id"])


# -- retention ----------------------------------------------------------------------------


def test_purge_drops_events_and_records_after_retention(make):
    h = make(**QUIET, privacy__retention_s=60.0)
    for i in range(20):
        with pytest.raises(VerificationError):
            h.start(phone=f"050-1234-{i:04d}")  # refused: VoIP
    assert len(h.store.events()) == 20
    h.clock.advance(61)
    dispute_free = h.v.purge()
    assert dispute_free >= 20 and h.store.events() == []

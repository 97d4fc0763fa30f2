"""What the Twilio-shaped API asks of the engine: a verifier per policy on shared parts,
start-again-means-resend, approval by the back end, the pending verification of a number,
and the send times and last change of a verification."""

from __future__ import annotations

import pytest

from verifier.errors import (
    IncorrectCode,
    LockedOut,
    MaxSendsReached,
    NotFound,
    VerificationNotPending,
)

JP_MOBILE, JP_E164 = "090-1234-5678", "+819012345678"


def test_with_policy_shares_store_sender_key_and_listeners(h):
    """A twin runs its own policy but sees every record, and both hear every event."""
    twin = h.v.with_policy(h.v.policy.replace(**{"code.length": 8}), id_source=lambda: "VE1")
    ver = twin.start(phone=JP_MOBILE, country="JP", account_id="acct-t")
    assert ver.id == "VE1"
    assert len(h.last_code()) == 8
    assert h.v.get("VE1").status == "pending"  # the same store
    assert twin.pseudonym(JP_E164) == h.v.pseudonym(JP_E164)  # the same key
    seen: list = []
    h.v.subscribe(seen.append)  # subscribing to one reaches the other
    twin.check("VE1", h.last_code())
    assert [e.kind for e in seen] == ["checked_ok"]
    assert "started" in h.kinds()


def test_start_with_resend_pending_sends_again_on_the_same_verification(make):
    h = make(fraud__min_check_delay_s=0.0, send__resend_cooldown_s=[0.0], send__max_sends=3)
    first = h.start(resend_pending=True)
    again = h.start(resend_pending=True)
    assert again.id == first.id and h.sent() == 2
    assert again.sent_at == (first.created_at, h.clock.now())
    h.start(resend_pending=True)
    with pytest.raises(MaxSendsReached):
        h.start(resend_pending=True)
    assert h.sent() == 3
    assert h.start().id == first.id  # without the flag: the pending one, no SMS
    assert h.sent() == 3


def test_approve_closes_a_pending_verification_and_only_one(h):
    ver = h.start()
    h.clock.advance(5)
    approved = h.v.approve(ver.id)
    assert approved.status == "approved"
    assert approved.updated_at == h.clock.now()
    assert h.kinds()[-1] == "checked_ok"
    with pytest.raises(VerificationNotPending):
        h.v.approve(ver.id)
    with pytest.raises(NotFound):
        h.v.approve("ver_none")


def test_pending_for_finds_the_pending_one_then_the_lock(make):
    h = make(
        fraud__min_check_delay_s=0.0,
        limits__failures_per_number_per_hour=0,
        check__max_attempts=2,
    )
    ver = h.start()
    assert h.v.pending_for("acct-1", JP_E164).id == ver.id
    with pytest.raises(NotFound):
        h.v.pending_for("acct-2", JP_E164)
    wrong = "000000" if h.last_code() != "000000" else "999999"
    for _ in range(2):
        with pytest.raises(IncorrectCode):
            h.v.check(ver.id, wrong)
    with pytest.raises(LockedOut):
        h.v.pending_for("acct-1", JP_MOBILE, "JP")

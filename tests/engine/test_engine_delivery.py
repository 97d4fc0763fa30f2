"""Delivery state on a manual clock: receipts move it on and never back, a late receipt
never speaks for a newer code, and a TTL that can start at delivery within a hard cap."""

from __future__ import annotations

import pytest

from verifier.errors import CodeExpired, InvalidRequest, NotFound

QUIET = {"fraud__min_check_delay_s": 0}


def test_receipts_move_the_state_on_with_their_times(make):
    h = make(**QUIET)
    ver = h.start()
    assert ver.delivery["state"] == "queued" and ver.delivery["queued_at"] == h.clock.now()
    seq = h.sender.messages("+819012345678")[-1].seq
    assert seq == 1
    h.v.delivery_receipt(ver.id, seq, "queued", expected_wait_s=8.5)
    assert h.v.get(ver.id).delivery["expected_wait_s"] == 8.5
    h.clock.advance(3)
    sent = h.v.delivery_receipt(ver.id, seq, "sent").delivery
    assert sent["state"] == "sent" and sent["sent_at"] == h.clock.now()
    assert sent["expected_wait_s"] is None
    h.clock.advance(2)
    done = h.v.delivery_receipt(ver.id, seq, "delivered").delivery
    assert done["state"] == "delivered" and done["delivered_at"] == h.clock.now()
    # Never back, and a final state stays final.
    for late in ("queued", "sent", "failed"):
        assert h.v.delivery_receipt(ver.id, seq, late).delivery == done
    assert [e.reason for e in h.events if e.kind == "delivery"] == ["queued", "sent", "delivered"]


def test_a_receipt_for_an_older_message_is_ignored(make):
    h = make(**QUIET)
    ver = h.start()
    h.clock.advance(30)
    h.v.resend(ver.id)
    assert h.sender.messages("+819012345678")[-1].seq == 2
    stale = h.v.delivery_receipt(ver.id, 1, "delivered").delivery
    assert stale["state"] == "queued"
    assert h.v.delivery_receipt(ver.id, 2, "failed").delivery["state"] == "failed"


def test_with_ttl_from_send_a_late_delivery_arrives_expired(make):
    h = make(**QUIET, code__ttl_s=10)
    ver = h.start()
    h.clock.advance(12)
    h.v.delivery_receipt(ver.id, 1, "delivered")
    with pytest.raises(CodeExpired):
        h.v.check(ver.id, h.last_code())


def test_with_ttl_from_delivery_the_code_lives_its_ttl_after_arriving(make):
    """The seed's case: a code valid 10 s, held 12 s by a busy gateway, still works."""
    h = make(**QUIET, code__ttl_s=10, code__ttl_from="delivery", code__max_life_s=60)
    ver = h.start()
    assert ver.expires_at == h.clock.now() + 60  # until the receipt: the hard maximum
    h.clock.advance(12)
    arrived = h.v.delivery_receipt(ver.id, 1, "delivered")
    assert arrived.expires_at == h.clock.now() + 10
    h.clock.advance(9)
    assert h.v.check(ver.id, h.last_code()).status == "approved"


def test_the_hard_maximum_bounds_a_late_delivery_and_a_lost_one(make):
    h = make(**QUIET, code__ttl_s=10, code__ttl_from="delivery", code__max_life_s=60)
    late = h.start()
    h.clock.advance(55)
    assert h.v.delivery_receipt(late.id, 1, "delivered").expires_at == late.created_at + 60
    h.clock.advance(5)
    with pytest.raises(CodeExpired):
        h.v.check(late.id, h.last_code())
    lost = h.start(account="acct-2", phone="090-1234-5679")
    h.clock.advance(60)
    with pytest.raises(CodeExpired):
        h.v.check(lost.id, h.last_code("+819012345679"))


def test_bad_receipts_are_refused_by_name(make):
    h = make(**QUIET)
    ver = h.start()
    with pytest.raises(InvalidRequest, match="state"):
        h.v.delivery_receipt(ver.id, 1, "read")
    with pytest.raises(InvalidRequest, match="seq"):
        h.v.delivery_receipt(ver.id, 0, "sent")
    with pytest.raises(InvalidRequest, match="expected_wait_s"):
        h.v.delivery_receipt(ver.id, 1, "queued", expected_wait_s=-1)
    with pytest.raises(NotFound):
        h.v.delivery_receipt("ver_nope", 1, "sent")


def test_a_long_life_from_delivery_is_flagged_against_nist(make):
    from verifier import Policy

    policy = Policy.default().replace(**{"code.ttl_from": "delivery", "code.max_life_s": 900})
    assert any("max_life_s" in p for p in policy.non_conformities())
    assert not Policy.default().non_conformities()

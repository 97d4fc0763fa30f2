"""One number, one account: binding, immediate refusal, release and disputes."""

from __future__ import annotations

import pytest

from verifier.errors import (
    IncorrectCode,
    NotFound,
    PhoneNumberAlreadyRegistered,
    VerificationNotPending,
)

E164 = "+819012345678"


def verified(h, account="acct-1", phone="090-1234-5678"):
    ver = h.start(account=account, phone=phone)
    return h.v.check(ver.id, h.sender.messages(ver.phone)[-1].code)


def test_bind_after_approval(h):
    ver = verified(h)
    assert h.v.registry.bind("acct-1", ver.id) == E164
    assert h.v.registry.owner(E164) == "acct-1"
    assert h.v.registry.number_of("acct-1") == E164
    assert h.v.registry.bind("acct-1", ver.id) == E164  # idempotent
    assert h.kinds().count("bound") == 1


def test_another_account_is_refused_at_send_with_no_sms(h):
    h.v.registry.bind("acct-1", verified(h).id)
    before = h.sent()
    with pytest.raises(PhoneNumberAlreadyRegistered):
        h.start(account="acct-2")
    with pytest.raises(PhoneNumberAlreadyRegistered):
        h.start(account="acct-2", phone="+819012345678", country=None)  # same number, E.164
    assert h.sent() == before


def test_only_an_approved_verification_of_the_same_account_binds(h):
    ver = h.start()
    with pytest.raises(VerificationNotPending):
        h.v.registry.bind("acct-1", ver.id)
    h.v.check(ver.id, h.last_code())
    with pytest.raises(NotFound):
        h.v.registry.bind("acct-2", ver.id)


def test_owner_release_frees_the_number(h):
    h.v.registry.bind("acct-1", verified(h).id)
    assert h.v.registry.release("acct-1") == E164
    assert h.v.registry.owner(E164) is None
    assert h.start(account="acct-2").created
    with pytest.raises(NotFound):
        h.v.registry.release("acct-1")


def test_binding_a_new_number_releases_the_old(h):
    h.v.registry.bind("acct-1", verified(h).id)
    h.v.registry.bind("acct-1", verified(h, phone="080-1234-5678").id)
    assert h.v.registry.owner(E164) is None
    assert h.v.registry.number_of("acct-1") == "+818012345678"


def test_dispute_resolved_by_release_force_releases(h):
    h.v.registry.bind("acct-1", verified(h).id)
    dispute = h.v.registry.open_dispute("090-1234-5678", "acct-2", country="JP")
    assert dispute["status"] == "open" and dispute["owner"] == "acct-1"
    done = h.v.registry.resolve_dispute(dispute["id"], "release")
    assert done["status"] == "resolved" and done["decision"] == "release"
    assert h.v.registry.owner(E164) is None
    assert h.v.registry.number_of("acct-1") is None
    assert {"dispute_opened", "dispute_resolved", "released"} <= set(h.kinds())
    with pytest.raises(VerificationNotPending):
        h.v.registry.resolve_dispute(dispute["id"], "reject")


def test_dispute_rejected_keeps_the_owner(h):
    h.v.registry.bind("acct-1", verified(h).id)
    dispute = h.v.registry.open_dispute(E164, "acct-2")
    h.v.registry.resolve_dispute(dispute["id"], "reject")
    assert h.v.registry.owner(E164) == "acct-1"


def test_dispute_needs_a_registered_number(h):
    with pytest.raises(NotFound):
        h.v.registry.open_dispute(E164, "acct-2")
    with pytest.raises(NotFound):
        h.v.registry.resolve_dispute("dsp_nope", "release")


def test_reveal_after_verification_refuses_only_once_possession_is_proven(make):
    h = make(numbers__reveal_registered="after_verification", fraud__min_check_delay_s=0.0)
    h.v.registry.bind("acct-1", verified(h).id)
    ver = h.start(account="acct-2")
    assert ver.created  # an unauthenticated caller learns nothing at send
    with pytest.raises(PhoneNumberAlreadyRegistered):
        h.v.check(ver.id, h.last_code())
    assert h.v.get(ver.id).status == "cancelled"


def test_reveal_never_answers_the_code_first_and_never_approves_a_bound_number(make):
    """Nothing leaks to a caller without the phone; a caller with it still gets no approval."""
    h = make(numbers__reveal_registered="never", fraud__min_check_delay_s=0.0)
    h.v.registry.bind("acct-1", verified(h).id)
    ver = h.start(account="acct-2")
    assert ver.created  # the start says nothing
    with pytest.raises(IncorrectCode):
        h.v.check(ver.id, "000000")
    with pytest.raises(PhoneNumberAlreadyRegistered):
        h.v.check(ver.id, h.last_code())
    assert h.v.get(ver.id).status == "cancelled"
    with pytest.raises(VerificationNotPending):
        h.v.registry.bind("acct-2", ver.id)


def test_one_number_per_account_can_be_turned_off(make):
    h = make(numbers__one_number_per_account=False, fraud__min_check_delay_s=0.0)
    h.v.registry.bind("acct-1", verified(h).id)
    h.v.registry.bind("acct-2", verified(h, account="acct-2").id)
    assert h.v.registry.number_of("acct-2") == E164

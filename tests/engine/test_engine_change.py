"""Change of number: a fresh verification of the new number, the binding moved only on its
approval, a notice (never a code) to the old number, and no way to take someone's number."""

from __future__ import annotations

import re

import pytest

from verifier.errors import (
    IncorrectCode,
    InvalidRequest,
    NotFound,
    PhoneNumberAlreadyRegistered,
)
from verifier.lifecycle import CHANGE_REFERENCE

OLD, OLD_E164 = "090-1234-5678", "+819012345678"
NEW, NEW_E164 = "080-2345-6789", "+818023456789"
QUIET = {"fraud__min_check_delay_s": 0}


def bound(h, account="acct-1", phone=OLD, e164=OLD_E164):
    ver = h.start(phone=phone, account=account)
    h.v.check(ver.id, h.last_code(e164))
    h.v.registry.bind(account, ver.id)
    return ver


def test_the_binding_moves_on_approval_and_the_old_number_gets_a_notice(make):
    h = make(**QUIET)
    bound(h)
    change = h.v.change_number("acct-1", NEW, "JP")
    assert change.status == "pending" and change.reference == CHANGE_REFERENCE
    assert h.v.registry.owner(OLD_E164) == "acct-1"  # still bound until the new is proved
    assert h.v.registry.number_of("acct-1") == OLD_E164
    h.v.check(change.id, h.last_code(NEW_E164))
    assert h.v.registry.number_of("acct-1") == NEW_E164
    assert h.v.registry.owner(NEW_E164) == "acct-1"
    assert h.v.registry.owner(OLD_E164) is None
    notice = h.sender.messages(OLD_E164)[-1]
    assert notice.kind == "notice" and notice.code == ""
    assert not re.search(r"\d{4}", notice.body)  # nothing that looks like a code
    kinds = h.kinds()
    assert kinds.index("released") < kinds.index("number_changed") < kinds.index("notice_sent")
    released = [e for e in h.events if e.kind == "released"]
    assert released[-1].reason == "changed"


def test_a_wrong_code_leaves_the_old_binding(make):
    h = make(**QUIET)
    bound(h)
    change = h.v.change_number("acct-1", NEW, "JP")
    with pytest.raises(IncorrectCode):
        h.v.check(change.id, "000000")
    assert h.v.registry.number_of("acct-1") == OLD_E164
    assert [m.kind for m in h.sender.messages(OLD_E164)] == ["code"]


def test_an_account_without_a_number_has_nothing_to_change(make):
    h = make(**QUIET)
    with pytest.raises(NotFound, match="no number"):
        h.v.change_number("acct-1", NEW, "JP")
    assert h.sent(NEW_E164) == 0


def test_changing_to_the_same_number_is_refused(make):
    h = make(**QUIET)
    bound(h)
    with pytest.raises(InvalidRequest, match="already"):
        h.v.change_number("acct-1", OLD, "JP")


def test_a_change_cannot_take_a_number_bound_to_someone_else(make):
    h = make(**QUIET)
    bound(h)
    bound(h, account="acct-2", phone=NEW, e164=NEW_E164)
    with pytest.raises(PhoneNumberAlreadyRegistered):
        h.v.change_number("acct-1", NEW, "JP")
    assert h.v.registry.number_of("acct-1") == OLD_E164
    assert h.v.registry.owner(NEW_E164) == "acct-2"


def test_under_never_the_change_is_refused_at_approval_and_nothing_moves(make):
    h = make(**QUIET, numbers__reveal_registered="never")
    bound(h)
    bound(h, account="acct-2", phone=NEW, e164=NEW_E164)
    change = h.v.change_number("acct-1", NEW, "JP")  # nothing leaks at start
    with pytest.raises(PhoneNumberAlreadyRegistered):
        h.v.check(change.id, h.last_code(NEW_E164))
    assert h.v.registry.number_of("acct-1") == OLD_E164
    assert h.v.registry.owner(NEW_E164) == "acct-2"
    assert [m.kind for m in h.sender.messages(OLD_E164)] == ["code"]

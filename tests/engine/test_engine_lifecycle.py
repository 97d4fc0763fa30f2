"""Unit tests for the verification lifecycle, one rule each, on a manual clock."""

from __future__ import annotations

import json

import pytest

from verifier import ManualClock, MemoryStore, Policy, SandboxSender, Verifier
from verifier.errors import (
    CodeExpired,
    IncorrectCode,
    InvalidRequest,
    LockedOut,
    MaxSendsReached,
    NotFound,
    ResendTooSoon,
    VerificationNotPending,
)

JP_E164 = "+819012345678"


def test_start_sends_one_code_and_opens_a_pending_verification(h):
    ver = h.start(reference="order-42")
    assert ver.created and ver.status == "pending" and ver.phone == JP_E164
    assert ver.reference == "order-42" and ver.region == "JP"
    assert ver.expires_at == h.clock.now() + 300
    assert ver.sends_left == 4 and ver.attempts_left == 5
    assert ver.resend_available_at == h.clock.now() + 30
    assert h.sent() == 1 and h.kinds() == ["started", "sent"]


def test_start_is_idempotent_while_pending(h):
    first = h.start()
    h.clock.advance(10)
    again = h.start()
    assert again.id == first.id and not again.created
    assert h.sent() == 1


def test_start_after_expiry_opens_a_new_verification(h):
    first = h.start()
    h.clock.advance(300)
    second = h.start()
    assert second.id != first.id and second.created and h.sent() == 2


def test_correct_code_approves_once_only(h):
    ver = h.start()
    assert h.v.check(ver.id, h.last_code()).status == "approved"
    with pytest.raises(VerificationNotPending):
        h.v.check(ver.id, h.last_code())
    assert h.v.get(ver.id).status == "approved"


def test_wrong_code_reports_attempts_left(h):
    ver = h.start()
    for left in (4, 3):
        with pytest.raises(IncorrectCode) as err:
            h.v.check(ver.id, "000000")
        assert err.value.attempts_left == left
    assert h.v.get(ver.id).attempts_left == 3


def test_the_last_wrong_code_answers_incorrect_then_locks(h):
    """SP 800-63B 3.2.2: limit consecutive failed attempts; the correct code is then refused."""
    ver = h.start()
    for _ in range(4):
        with pytest.raises(IncorrectCode):
            h.v.check(ver.id, "000000")
    with pytest.raises(IncorrectCode) as err:
        h.v.check(ver.id, "000000")
    assert err.value.attempts_left == 0
    with pytest.raises(LockedOut) as locked:
        h.v.check(ver.id, h.last_code())
    assert locked.value.retry_after_s == 900
    assert h.v.get(ver.id).status == "locked"
    assert "locked" in h.kinds()


def test_resend_never_resets_the_attempt_count(h):
    """SP 800-63B 3.1.3.2: a new secret SHALL NOT reset the failed authentication count."""
    ver = h.start()
    for _ in range(4):
        with pytest.raises(IncorrectCode):
            h.v.check(ver.id, "000000")
    h.clock.advance(30)
    assert h.v.resend(ver.id).attempts_left == 1
    with pytest.raises(IncorrectCode) as err:
        h.v.check(ver.id, "000000")
    assert err.value.attempts_left == 0
    with pytest.raises(LockedOut):
        h.v.check(ver.id, h.last_code())


def test_lockout_covers_number_and_account_then_ends(h):
    ver = h.start()
    for _ in range(5):
        with pytest.raises(IncorrectCode):
            h.v.check(ver.id, "000000")
    with pytest.raises(LockedOut):
        h.start()
    assert h.start(account="acct-2").created  # another account is not locked
    h.clock.advance(900)
    with pytest.raises(VerificationNotPending):
        h.v.check(ver.id, h.last_code())
    with pytest.raises(VerificationNotPending):
        h.v.resend(ver.id)
    assert h.start().created


def test_code_valid_until_ttl_then_expired_every_time(h):
    """SP 800-63B 3.1.3.2: invalid unless completed within the validity period."""
    ver = h.start()
    h.clock.advance(299.9)
    assert h.v.check(ver.id, h.last_code()).status == "approved"
    other = h.start(account="acct-2", phone="080-1234-5678")
    code = h.last_code("+818012345678")
    h.clock.advance(300)
    for _ in range(3):
        with pytest.raises(CodeExpired):
            h.v.check(other.id, code)
    got = h.v.get(other.id)
    assert got.status == "expired" and got.attempts_left == 5
    assert h.kinds().count("expired") == 1


def test_resend_after_expiry_gives_a_fresh_code_and_ttl(h):
    ver = h.start()
    h.clock.advance(400)
    again = h.v.resend(ver.id)
    assert again.status == "pending" and again.expires_at == h.clock.now() + 300
    assert h.v.check(ver.id, h.last_code()).status == "approved"


def test_resend_cooldowns_escalate_then_repeat_the_last(h):
    ver = h.start()
    for wait in (30, 60, 120, 120):
        h.clock.advance(wait - 1)
        with pytest.raises(ResendTooSoon) as err:
            h.v.resend(ver.id)
        assert err.value.retry_after_s == pytest.approx(1)
        h.clock.advance(1)
        h.v.resend(ver.id)
    assert h.sent() == 5


def test_send_cap_counts_the_first_send(h):
    ver = h.start()
    for _ in range(4):
        h.clock.advance(120)
        h.v.resend(ver.id)
    h.clock.advance(120)
    with pytest.raises(MaxSendsReached):
        h.v.resend(ver.id)
    assert h.sent() == 5 and h.v.get(ver.id).resend_available_at is None


def test_resend_rotates_the_code_by_default(h):
    """OWASP MFA cheat sheet: on resend, generate a new OTP and overwrite the old one."""
    ver = h.start()
    old = h.last_code()
    h.clock.advance(30)
    h.v.resend(ver.id)
    assert h.last_code() != old
    with pytest.raises(IncorrectCode):
        h.v.check(ver.id, old)
    assert h.v.check(ver.id, h.last_code()).status == "approved"


def test_resend_same_code_repeats_it_within_the_ttl(make):
    h = make(send__resend_same_code=True, fraud__min_check_delay_s=0.0)
    ver = h.start()
    first = h.last_code()
    h.clock.advance(30)
    again = h.v.resend(ver.id)
    assert h.last_code() == first and again.expires_at == ver.expires_at
    h.clock.advance(300)
    h.v.resend(ver.id)
    assert h.last_code() != first
    assert h.v.check(ver.id, h.last_code()).status == "approved"


def test_previous_codes_stay_valid_when_the_policy_says_so(make):
    h = make(check__previous_codes_valid=True, fraud__min_check_delay_s=0.0)
    ver = h.start()
    old = h.last_code()
    h.clock.advance(30)
    h.v.resend(ver.id)
    assert h.v.check(ver.id, old).status == "approved"


def test_superseded_code_in_grace_answers_expired_without_counting(make):
    h = make(check__superseded_code_grace_s=60.0, fraud__min_check_delay_s=0.0)
    ver = h.start()
    old = h.last_code()
    h.clock.advance(30)
    h.v.resend(ver.id)
    h.clock.advance(59)
    with pytest.raises(CodeExpired):
        h.v.check(ver.id, old)
    assert h.v.get(ver.id).attempts_left == 5
    h.clock.advance(2)
    with pytest.raises(IncorrectCode):
        h.v.check(ver.id, old)


@pytest.mark.parametrize(
    "typed",
    ["１１１１１１", "111 111", "111-111", " 111111 ", "１１１－１１１"],
)
def test_codes_are_normalised_before_comparison(h, typed):
    ver = h.start()
    assert h.last_code() == "111111"
    assert h.v.check(ver.id, typed).status == "approved"


@pytest.mark.parametrize("typed", ["11111a", "1111111", "", "x" * 5000, "111111\x00"])
def test_anything_else_is_an_incorrect_attempt(h, typed):
    ver = h.start()
    with pytest.raises(IncorrectCode):
        h.v.check(ver.id, typed)
    assert h.v.get(ver.id).attempts_left == 4


def test_a_code_is_bound_to_its_own_verification(h):
    """ASVS 2.7.3: a code is usable only for the original request."""
    a = h.start()
    code_a = h.last_code()
    b = h.start(account="acct-2", phone="080-1234-5678")
    with pytest.raises(IncorrectCode):
        h.v.check(b.id, code_a)
    assert h.v.check(a.id, code_a).status == "approved"


def test_cancel_ends_a_pending_verification(h):
    ver = h.start()
    assert h.v.cancel(ver.id).status == "cancelled"
    with pytest.raises(VerificationNotPending):
        h.v.check(ver.id, h.last_code())
    with pytest.raises(VerificationNotPending):
        h.v.cancel(ver.id)
    with pytest.raises(ResendTooSoon):  # re-entering the number keeps the cooldown
        h.start()
    h.clock.advance(30)
    assert h.start().created  # ... and then starts anew


def test_unknown_ids_are_not_found(h):
    for call in (h.v.get, h.v.cancel, h.v.resend, lambda i: h.v.check(i, "123456")):
        with pytest.raises(NotFound):
            call("ver_nope")
    with pytest.raises(NotFound):
        h.v.get("x" * 1000)


def test_bad_arguments_are_invalid_requests(h):
    with pytest.raises(InvalidRequest, match="account_id"):
        h.start(account="")
    with pytest.raises(InvalidRequest, match="account_id"):
        h.start(account="a\x00b")
    ver = h.start()
    with pytest.raises(InvalidRequest, match="code"):
        h.v.check(ver.id, 123456)


def test_store_keeps_only_a_keyed_hash_of_the_code():
    """ASVS 2.7.5: retain only a hashed version of the code."""
    clock, sender, store = ManualClock(), SandboxSender(), MemoryStore()
    v = Verifier(policy=Policy.default(), store=store, sender=sender, clock=clock)
    ver = v.start(phone="090-1234-5678", country="JP", account_id="acct-1")
    code = sender.messages(ver.phone)[-1].code
    dump = json.dumps({k: val for k, (val, _) in store._data.items()})
    assert code not in dump


def test_events_carry_neither_numbers_nor_codes(h):
    ver = h.start()
    code = h.last_code()
    h.v.check(ver.id, code)
    h.v.registry.bind("acct-1", ver.id)
    text = json.dumps([e.to_dict() for e in h.store.events()])
    assert code not in text and "9012345678" not in text
    assert {e.number for e in h.events} == {h.v.pseudonym(JP_E164)}


def test_the_hmac_key_never_comes_from_the_store():
    """A copy of the store alone must recover no code: the key is the caller's, or fresh."""
    store = MemoryStore()
    parts = dict(policy=Policy.default(), store=store, sender=SandboxSender(), clock=ManualClock())
    assert Verifier(**parts).pseudonym(JP_E164) != Verifier(**parts).pseudonym(JP_E164)
    keyed = dict(parts, hmac_key=b"s" * 32)
    assert Verifier(**keyed).pseudonym(JP_E164) == Verifier(**keyed).pseudonym(JP_E164)
    Verifier(**parts).start(phone=JP_E164, country=None, account_id="a")
    assert store._secrets == {}


def test_default_codes_come_from_the_csprng_with_the_policy_length():
    clock, sender = ManualClock(), SandboxSender()
    policy = Policy.default().replace(**{"code.length": 8})
    v = Verifier(policy=policy, store=MemoryStore(), sender=sender, clock=clock)
    seen = set()
    for i in range(50):
        ver = v.start(phone=f"+8190{12345600 + i}", country=None, account_id=f"a{i}")
        code = sender.messages(ver.phone)[-1].code
        assert len(code) == 8 and code.isdigit()
        seen.add(code)
    assert len(seen) == 50


def test_expired_records_leave_the_store_after_retention(make):
    h = make(privacy__retention_s=60.0, fraud__min_check_delay_s=0.0)
    ver = h.start()
    h.v.check(ver.id, h.last_code())
    h.clock.advance(600 + 61)  # an approval is kept while it can be consumed, then retained
    with pytest.raises(NotFound):
        h.v.get(ver.id)


def test_a_resend_keeps_the_pending_index_as_long_as_the_record(make):
    """Idempotent start still finds a verification that a late resend revived."""
    h = make(privacy__retention_s=10.0, fraud__min_check_delay_s=0.0)
    ver = h.start()
    h.clock.advance(301)
    h.v.resend(ver.id)
    h.clock.advance(10)
    again = h.start()
    assert again.id == ver.id and not again.created and h.sent() == 2


def test_an_expired_verification_can_be_resent_within_retention(make):
    h = make(privacy__retention_s=60.0, fraud__min_check_delay_s=0.0)
    ver = h.start()
    h.clock.advance(300 + 59)
    with pytest.raises(CodeExpired):
        h.v.check(ver.id, h.last_code())
    assert h.v.resend(ver.id).status == "pending"


def test_memory_store_purges_a_key_whose_expiry_moved_later():
    store = MemoryStore()

    def put(expire_at):
        return lambda tx: tx.put("k", "v", expire_at=expire_at)

    store.transact(put(10.0), now=0.0)
    store.transact(put(20.0), now=5.0)  # later: no new heap entry, the old one moves
    assert store.transact(lambda tx: tx.get("k"), now=15.0) == "v"
    assert len(store) == 1 and len(store._expiry) == 1
    store.transact(put(12.0), now=16.0)  # earlier again (in the past): gone at once
    assert store.transact(lambda tx: tx.get("k"), now=16.5) is None
    assert len(store) == 0

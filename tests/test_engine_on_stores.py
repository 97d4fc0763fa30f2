"""The engine runs unchanged on every store: memory, SQLite and Redis.

The same ``Verifier`` code, with its sandbox outbox and HMAC key kept in the store,
goes through a checkout on each store, served by two "workers" (two store objects on
the same URL where the store can be shared), and counts concurrent wrong codes exactly:
no more than ``max_attempts`` are ever evaluated.
"""

from __future__ import annotations

import itertools
import threading

import pytest

from verifier import ManualClock, Policy, SandboxSender, VerificationError, Verifier
from verifier.errors import (
    IncorrectCode,
    LockedOut,
    PhoneNumberAlreadyRegistered,
    ResendTooSoon,
)
from verifier.stores import MemoryStore, open_store

PHONE, E164 = "090-1234-5678", "+819012345678"
THREADS = 8


def _wrong(code: str) -> str:
    """A code of the same length that is certainly not ``code``."""
    return "".join(str((int(d) + 1) % 10) for d in code)


@pytest.fixture
def stores(store_url):
    """Two handles on one store: two objects on the URL, or one MemoryStore twice."""
    first = open_store(store_url)
    second = first if isinstance(first, MemoryStore) else open_store(store_url)
    yield first, second
    first.close()
    second.close()


KEY = b"shared-by-every-worker-0123456789"


def _worker(store, clock, **options) -> tuple[Verifier, SandboxSender]:
    sender = SandboxSender(store=store, clock=clock)
    # The per-number failure cap is off: these tests count a verification's own attempts.
    policy = Policy.default().replace(**{"limits.failures_per_number_per_hour": 0})
    options.setdefault("hmac_key", KEY)
    return Verifier(policy, store, sender, clock, **options), sender


def _checkout(a: Verifier, b: Verifier, outbox: SandboxSender, clock: ManualClock) -> str:
    """Start, wrong check, resend, correct check, bind; worker ``a`` and ``b`` take turns."""
    ver = a.start(phone=PHONE, country="JP", account_id="acct-1", reference="order-1")
    assert ver.created and ver.status == "pending" and ver.phone == E164
    first_code = outbox.messages(E164)[-1].code
    clock.advance(5)
    with pytest.raises(IncorrectCode) as wrong:
        b.check(ver.id, _wrong(first_code))
    assert wrong.value.attempts_left == 4
    again = b.start(phone=PHONE, country="JP", account_id="acct-1", reference="order-1")
    assert again.id == ver.id and not again.created
    assert len(outbox.messages(E164)) == 1
    with pytest.raises(ResendTooSoon):
        a.resend(ver.id)
    clock.advance(30)
    resent = a.resend(ver.id)
    assert resent.sends_left == 3
    messages = outbox.messages(E164)
    assert len(messages) == 2 and messages[-1].code != first_code
    clock.advance(5)
    with pytest.raises(IncorrectCode) as old:  # the resend replaced the first code
        a.check(ver.id, first_code)
    assert old.value.attempts_left == 3
    approved = b.check(ver.id, messages[-1].code)
    assert approved.status == "approved" and approved.attempts_left == 3
    assert a.registry.bind("acct-1", ver.id) == E164
    assert b.registry.owner(E164) == "acct-1"
    with pytest.raises(PhoneNumberAlreadyRegistered):
        b.start(phone=PHONE, country="JP", account_id="acct-2")
    assert a.get(ver.id).status == "approved"
    return ver.id


def test_a_checkout_works_on_every_store(stores):
    clock = ManualClock()
    (a, outbox), (b, _) = _worker(stores[0], clock), _worker(stores[1], clock)
    _checkout(a, b, outbox, clock)
    kinds = [e.kind for e in stores[1].events()]
    for kind in ["started", "sent", "checked_wrong", "resent", "checked_ok", "bound", "refused"]:
        assert kind in kinds


def test_the_engine_leaves_the_same_events_on_every_store(store_url):
    """With ids, codes and key fixed, every store records exactly what MemoryStore does."""

    def run(store) -> list:
        clock = ManualClock()
        ids = (f"ver_{i:024d}" for i in itertools.count())
        codes = (f"{i:06d}" for i in itertools.count(123456, 111111))
        v, outbox = _worker(
            store,
            clock,
            hmac_key=b"k" * 32,
            id_source=lambda: next(ids),
            code_source=lambda length: next(codes),
        )
        _checkout(v, v, outbox, clock)
        return store.events()

    store = open_store(store_url)
    try:
        assert run(store) == run(MemoryStore())
    finally:
        store.close()


def test_concurrent_wrong_checks_are_counted_exactly(stores):
    """N concurrent wrong checks never evaluate more than ``max_attempts`` (DESIGN: Stores)."""
    clock = ManualClock()
    (v, outbox), (other, _) = _worker(stores[0], clock), _worker(stores[1], clock)
    ver = v.start(phone=PHONE, country="JP", account_id="acct-1")
    wrong = _wrong(outbox.messages(E164)[-1].code)
    clock.advance(5)  # past the "faster than a human" detector
    barrier = threading.Barrier(THREADS)
    answers: list[VerificationError] = []

    def attempt(worker: Verifier) -> None:
        barrier.wait()
        try:
            worker.check(ver.id, wrong)
        except VerificationError as err:
            answers.append(err)

    threads = [threading.Thread(target=attempt, args=((v, other)[i % 2],)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    max_attempts = Policy.default().check.max_attempts
    incorrect = [e for e in answers if isinstance(e, IncorrectCode)]
    assert len(answers) == THREADS
    assert len(incorrect) == max_attempts
    assert sorted(e.attempts_left for e in incorrect) == list(range(max_attempts))
    assert all(isinstance(e, LockedOut) for e in answers if e not in incorrect)
    kinds = [e.kind for e in stores[0].events()]
    assert kinds.count("checked_wrong") == max_attempts and kinds.count("locked") == 1
    assert v.get(ver.id).status == "locked"

"""Events nobody records are not built, and that changes no answer and no event heard."""

from __future__ import annotations

import itertools

import pytest

from verifier import ManualClock, MemoryStore, Policy, SandboxSender, Verifier
from verifier.errors import IncorrectCode


def _engine(store: MemoryStore) -> Verifier:
    codes = itertools.cycle(["123456", "654321"])
    return Verifier(
        Policy.default().replace(**{"fraud.min_check_delay_s": 0.0}),
        store,
        SandboxSender(),
        ManualClock(),
        hmac_key=b"k" * 32,
        code_source=lambda n: next(codes),
        id_source=map("ver_{}".format, itertools.count()).__next__,
    )


def _script(v: Verifier) -> list:
    """The same calls on any engine; returns what each answered."""
    answers = []
    first = v.start(phone="+819012345678", country=None, account_id="a1")
    answers.append(first)
    with pytest.raises(IncorrectCode):
        v.check(first.id, "000000")
    answers.append(v.check(first.id, "123456"))
    answers.append(v.start(phone="+819012345679", country=None, account_id="a2"))
    return answers


def test_a_store_that_drops_events_answers_as_one_that_keeps_them():
    kept, dropped = MemoryStore(), MemoryStore(keep_events=False)
    assert _script(_engine(kept)) == _script(_engine(dropped))
    assert [e.kind for e in kept.events()] == [
        "started",
        "sent",
        "checked_wrong",
        "checked_ok",
        "started",
        "sent",
    ]
    assert dropped.events() == []


def test_listeners_hear_every_event_when_the_store_drops_them():
    kept, dropped = MemoryStore(), MemoryStore(keep_events=False)
    heard: list = []
    _script(_engine(kept))
    quiet = _engine(dropped)
    quiet.subscribe(heard.append)
    _script(quiet)
    assert heard == kept.events()
    assert all(e.number and e.number != "+819012345678" for e in heard)

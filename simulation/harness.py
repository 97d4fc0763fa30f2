"""The real engine, wired into simulated time: clock, sender, code source, event tally.

``Harness`` builds one ``verifier.Verifier`` per replication on a ``MemoryStore`` that
keeps no event history (listeners see every event; memory stays bounded). Its clock
reads ``1_700_000_000 + env.now``; its sender hands each committed message to the
gateway; its codes come from a numpy stream so a run is reproducible. Every decision a
simulated person meets is the engine's.
"""

from __future__ import annotations

import itertools
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import suppress
from functools import partial

import numpy as np
import simpy

from verifier import ManualClock, MemoryStore, Policy, VerificationError, Verifier
from verifier.events import Event
from verifier.senders import Message
from verifier.store import Transaction

from .durations import integers
from .gateway import Gateway

EPOCH = 1_700_000_000.0
SETUP_LEAD_S = 400 * 86400.0  # pre-run history happens this long before the run starts


class SimClock:
    """The engine's clock: SimPy's virtual time, counted from ``EPOCH``."""

    __slots__ = ("env",)

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env

    def now(self) -> float:
        return EPOCH + self.env.now


class GatewaySender:
    """The engine's ``Sender``: a committed message goes to the simulated gateway.

    Calls go to the voice gateway when there is one (else to the SMS gateway).
    """

    def __init__(self, gateway: Gateway, calls: Gateway | None = None) -> None:
        self._submit = gateway.submit
        self._call = (calls or gateway).submit
        # Set when the policy's TTL runs from delivery: the gateway's receipts go back to
        # the engine (otherwise nothing reads them, and they would only cost time).
        self.receipts: Callable[..., object] | None = None

    def send(self, message: Message, tx: Transaction) -> None:
        submit = self._call if message.channel == "call" else self._submit
        receipts = self.receipts
        if receipts is None:
            tx.after_commit(partial(submit, message.to, message.code))
            return
        receipt = partial(_receipt, receipts, message.verification_id, message.seq)
        tx.after_commit(partial(submit, message.to, message.code, receipt))


def _receipt(receipts: Callable[..., object], verification_id: str, seq: int, state: str) -> None:
    with suppress(VerificationError):  # a record purged by now has nothing to update
        receipts(verification_id, seq, state)


class _Outbox:
    """A sender that keeps the last code per number, for the pre-run history."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}

    def send(self, message: Message, tx: Transaction) -> None:
        tx.after_commit(partial(self.codes.__setitem__, message.to, message.code))


def code_source(rng: np.random.Generator) -> Callable[[int], str]:
    """Uniform decimal codes of the asked length from ``rng``, drawn in blocks."""
    streams: dict[int, Iterator[int]] = {}

    def draw(length: int) -> str:
        it = streams.get(length)
        if it is None:
            high = 10**length
            it = streams[length] = integers(rng, high)
        return f"{next(it):0{length}d}"

    return draw


class EventTally:
    """Listener counting the engine's events by kind and reason, and timing the rare ones."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()
        self.fraud_reasons: Counter[str] = Counter()
        self.flagged_at = array("d")
        self.locked_at = array("d")

    def __call__(self, event: Event) -> None:
        kind = event.kind
        self.kinds[kind] += 1
        if kind == "refused":
            self.refusals[event.reason] += 1
        elif kind == "fraud_flagged":
            self.fraud_reasons[event.reason] += 1
            self.flagged_at.append(event.at - EPOCH)
        elif kind == "locked":
            self.locked_at.append(event.at - EPOCH)


class Harness:
    """One replication's engine and what it needs; ``verifier`` is the object actors call."""

    def __init__(
        self,
        env: simpy.Environment,
        policy: Policy,
        gateway: Gateway,
        rng: np.random.Generator,
        calls: Gateway | None = None,
    ) -> None:
        self.env = env
        self.policy = policy
        self.store = MemoryStore(keep_events=False)
        self.hmac_key = rng.bytes(32)
        counter = itertools.count(1)
        sender = GatewaySender(gateway, calls)
        self.verifier = Verifier(
            policy,
            self.store,
            sender,
            SimClock(env),
            hmac_key=self.hmac_key,
            code_source=code_source(rng),
            id_source=lambda: f"ver_{next(counter):09d}",
        )
        if policy.code.ttl_from == "delivery":
            sender.receipts = self.verifier.delivery_receipt
        self.tally = EventTally()
        self.verifier.subscribe(self.tally)

    def preregister(self, numbers: list[tuple[str, str]]) -> list[bool]:
        """Bind each (number, country) to a previous owner's account before the run.

        These are recycled numbers: registered long ago by someone else. The binding goes
        through the engine (start, check, bind) on the same store, at an earlier time, so
        it is the engine's own registry state. Returns which numbers ended up bound.
        """
        outbox = _Outbox()
        clock = ManualClock(EPOCH - SETUP_LEAD_S)
        setup = Verifier(
            self.policy,
            self.store,
            outbox,
            clock,
            hmac_key=self.hmac_key,
            code_source=code_source(np.random.default_rng(0)),
            id_source=partial(next, (f"pre_{n:09d}" for n in itertools.count(1))),
        )
        # A human-paced check, after the automation detector's threshold and within the TTL.
        delay = min(max(1.0, self.policy.fraud.min_check_delay_s), self.policy.code.ttl_s / 2)
        bound = []
        for i, (number, country) in enumerate(numbers):
            account = f"prev_{i}"
            try:
                ver = setup.start(number, country, account)
                clock.advance(delay)
                setup.check(ver.id, outbox.codes[ver.phone])
                setup.registry.bind(account, ver.id)
            except VerificationError:
                bound.append(False)
            else:
                bound.append(setup.registry.owner(ver.phone) == account)
            clock.advance(1.0)
        return bound

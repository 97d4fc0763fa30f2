"""How codes leave the engine: the ``Sender`` contract and the sandbox sender.

The engine calls ``sender.send(message, tx)`` inside the transaction that decided to
send, so a sender either stages the message in that same transaction (a durable
outbox) or defers its effect with ``tx.after_commit``. Either way a message exists
only if the decision to send it was committed.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from . import keys
from .clock import Clock
from .store import Store, Transaction


class Message(NamedTuple):
    """One SMS (an immutable named tuple). ``code`` is for the sandbox and simulated phone.

    ``kind`` is ``code`` for a verification code, ``notice`` for a message that carries
    none (the notice to the old number after a change of number; ``code`` is empty).
    ``channel`` is ``sms``, or ``call`` for a code read out by phone.
    """

    to: str
    body: str
    code: str
    sent_at: float
    verification_id: str
    kind: str = "code"
    channel: str = "sms"  # or "call": the body is what the call says
    seq: int = 0  # its number among the verification's messages (delivery receipts name it)

    def to_dict(self) -> dict:
        return self._asdict()


class Sender(Protocol):
    def send(self, message: Message, tx: Transaction) -> None: ...


def notice_body() -> str:
    """The notice to an account's old number once a new one is verified (no code, no link)."""
    return (
        "The phone number on your account was changed. "
        "If you did not do this, contact the shop's support."
    )


def message_body(code: str, ttl_s: float) -> str:
    minutes = max(1, round(ttl_s / 60))
    return f"Your verification code is {code}. It expires in {minutes} min. Never share it."


class SandboxSender:
    """Keeps messages instead of sending them, for tests, demos and the sandbox API.

    With ``store`` (and the ``clock`` the store's transactions are timed by) the messages
    live in that store, so every worker process and every restart sees them; without
    it they live in this object.
    """

    def __init__(
        self, store: Store | None = None, clock: Clock | None = None, keep: int = 20
    ) -> None:
        if store is not None and clock is None:
            raise ValueError("a store-backed SandboxSender needs the clock")
        self._store = store
        self._clock = clock
        self._keep = keep
        self._messages: dict[str, list[Message]] = {}

    def send(self, message: Message, tx: Transaction) -> None:
        if self._store is None:
            tx.after_commit(lambda: self._messages.setdefault(message.to, []).append(message))
            return
        key = keys.sandbox(message.to)
        kept = list(tx.get(key) or [])[-(self._keep - 1) :] if self._keep > 1 else []
        tx.put(key, [*kept, message.to_dict()], expire_at=message.sent_at + 86400)

    def messages(self, to: str) -> list[Message]:
        """Messages sent to ``to`` (E.164), newest last."""
        if self._store is None:
            return list(self._messages.get(to, []))
        kept = self._store.transact(lambda tx: tx.get(keys.sandbox(to)), self._clock.now())
        return [Message(**m) for m in kept or []]

"""The ``Store`` contract: atomic read-modify-write transactions over JSON-like values.

The engine expresses every operation as a function of a :class:`Transaction`. A store
runs that function so that its reads and writes are atomic with respect to every other
process sharing the store, and may run it more than once (optimistic stores retry on
conflict), so the function must act only through the transaction: its writes, its
events and its ``after_commit`` callbacks take effect once, on commit.

Values are JSON-compatible (dict, list, str, int, float, bool, None) and are treated as
immutable once written: the engine builds new values rather than editing fetched ones.
``scan`` lists committed, unexpired keys with a prefix (in key order, at most
``limit``) outside any transaction; it is for work queues such as a durable outbox,
whose workers then claim each item in a transaction.

``expire_at`` marks when a key may be purged; it is clean-up only, never a TTL the
engine relies on (the engine compares its own timestamps against its clock). ``purge``
drops the keys expired by ``now`` and the events whose time is before ``events_before``,
and returns how many it dropped; ``events(after=N)`` counts from the oldest event kept.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from .events import Event

T = TypeVar("T")
_DELETED = object()


class Transaction(Protocol):
    """What an engine operation sees while it runs inside ``Store.transact``."""

    now: float
    records_events: bool  # False: the store drops events, so one nobody hears need not exist

    def get(self, key: str) -> Any: ...
    def put(self, key: str, value: Any, expire_at: float | None = None) -> None: ...
    def delete(self, key: str) -> None: ...
    def emit(self, event: Event) -> None: ...
    def after_commit(self, fn: Callable[[], None]) -> None: ...


class Store(Protocol):
    """Durable (or not) shared state for one or many verifier processes."""

    def transact(self, fn: Callable[[Transaction], T], now: float) -> T: ...
    def secret(self, name: str, size: int = 32) -> bytes: ...
    def events(self, after: int = 0, limit: int | None = None) -> list[Event]: ...
    def scan(self, prefix: str, now: float, limit: int = 100) -> list[tuple[str, Any]]: ...
    def purge(self, now: float, events_before: float | None = None) -> int: ...
    def close(self) -> None: ...


class BufferedTransaction:
    """A transaction that buffers writes and events until its store commits them.

    Stores subclass it and supply ``_load`` (read a committed value, or ``None``).
    """

    __slots__ = ("callbacks", "events", "now", "writes")
    records_events = True

    def __init__(self, now: float) -> None:
        self.now = now
        self.writes: dict[str, tuple[Any, float | None] | object] = {}
        self.events: list[Event] = []
        self.callbacks: list[Callable[[], None]] = []

    def _load(self, key: str) -> Any:
        raise NotImplementedError

    def get(self, key: str) -> Any:
        if key in self.writes:
            written = self.writes[key]
            return None if written is _DELETED else written[0]
        return self._load(key)

    def put(self, key: str, value: Any, expire_at: float | None = None) -> None:
        if value is None:
            raise ValueError("a store value cannot be None; delete the key instead")
        self.writes[key] = (value, expire_at)

    def delete(self, key: str) -> None:
        self.writes[key] = _DELETED

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def after_commit(self, fn: Callable[[], None]) -> None:
        self.callbacks.append(fn)

    def changes(self) -> tuple[dict[str, tuple[Any, float | None]], list[str]]:
        """The buffered writes split into puts and deletes."""
        puts = {k: w for k, w in self.writes.items() if w is not _DELETED}
        deletes = [k for k, w in self.writes.items() if w is _DELETED]
        return puts, deletes  # type: ignore[return-value]

    def run_callbacks(self) -> None:
        for fn in self.callbacks:
            fn()

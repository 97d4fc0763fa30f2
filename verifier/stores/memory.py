"""An in-process store for tests and the simulation: a dict, a lock and an expiry heap.

Keys are also indexed by namespace (the text up to their first ``:``), so a ``scan`` of
one namespace, such as the outbox's, reads that namespace's keys and not the whole
store: the outbox is scanned on every send, and a store that holds every verification
of a busy hour would otherwise be walked, under the store's lock, at each one.
"""

from __future__ import annotations

import heapq
import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..events import Event
from ..store import _DELETED, BufferedTransaction, Transaction

T = TypeVar("T")


class _MemoryTransaction(BufferedTransaction):
    __slots__ = ("_data", "records_events")

    def __init__(
        self, data: dict[str, tuple[Any, float | None]], now: float, records_events: bool
    ) -> None:
        super().__init__(now)
        self._data = data
        self.records_events = records_events

    def _load(self, key: str) -> Any:
        entry = self._data.get(key)
        if entry is None:
            return None
        value, expire_at = entry
        if expire_at is not None and expire_at <= self.now:
            return None
        return value

    def get(self, key: str) -> Any:
        # The buffered read and the committed read in one call: an engine operation reads
        # a dozen keys, so the layer of calls in ``BufferedTransaction.get`` shows.
        entry = self.writes.get(key) or self._data.get(key)
        if entry is None or entry is _DELETED:
            return None
        expire_at = entry[1]
        if expire_at is not None and expire_at <= self.now and key not in self.writes:
            return None
        return entry[0]


class MemoryStore:
    """Keeps everything in this process; atomic across threads, lost when the process ends.

    ``keep_events=False`` drops events once listeners have seen them, which long
    simulations need to run in bounded memory.
    """

    url = "memory://"

    def __init__(self, keep_events: bool = True) -> None:
        self._data: dict[str, tuple[Any, float | None]] = {}
        self._spaces: dict[str, set[str]] = {}  # namespace ("outbox:") -> its keys
        self._expiry: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._events: list[Event] = []
        self._keep_events = keep_events
        self._secrets: dict[str, bytes] = {}

    def transact(self, fn: Callable[[Transaction], T], now: float) -> T:
        with self._lock:
            heap = self._expiry
            if heap and heap[0][0] <= now:
                self._purge(now)
            data = self._data
            tx = _MemoryTransaction(data, now, self._keep_events)
            result = fn(tx)
            push = heapq.heappush
            for key, written in tx.writes.items():
                if written is _DELETED:
                    if data.pop(key, None) is not None:
                        self._unindex(key)
                    continue
                old = data.get(key)
                if old is None:
                    self._index(key)
                data[key] = written
                expire_at = written[1]
                # One heap entry per key: a later expiry is found when the earlier
                # entry comes due (``_purge`` moves it), so only an earlier one is pushed.
                if expire_at is not None and (old is None or old[1] is None or expire_at < old[1]):
                    push(heap, (expire_at, key))
            if self._keep_events:
                self._events.extend(tx.events)
        if tx.callbacks:
            tx.run_callbacks()
        return result

    def _index(self, key: str) -> None:
        space = key[: key.find(":") + 1]
        keys = self._spaces.get(space)
        if keys is None:
            keys = self._spaces[space] = set()
        keys.add(key)

    def _unindex(self, key: str) -> None:
        keys = self._spaces.get(key[: key.find(":") + 1])
        if keys is not None:
            keys.discard(key)

    def _purge(self, now: float) -> None:
        heap, data = self._expiry, self._data
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            entry = data.get(key)
            if entry is None or entry[1] is None:
                continue
            if entry[1] <= now:
                del data[key]
                self._unindex(key)
            else:
                heapq.heappush(heap, (entry[1], key))  # its expiry moved later

    def purge(self, now: float, events_before: float | None = None) -> int:
        with self._lock:
            before = len(self._data)
            self._purge(now)
            dropped = before - len(self._data)
            if events_before is not None:
                keep = [e for e in self._events if e.at >= events_before]
                dropped += len(self._events) - len(keep)
                self._events = keep
        return dropped

    def secret(self, name: str, size: int = 32) -> bytes:
        with self._lock:
            return self._secrets.setdefault(name, secrets.token_bytes(size))

    def events(self, after: int = 0, limit: int | None = None) -> list[Event]:
        with self._lock:
            end = None if limit is None else after + limit
            return self._events[after:end]

    def scan(self, prefix: str, now: float, limit: int = 100) -> list[tuple[str, Any]]:
        with self._lock:
            data = self._data
            if ":" in prefix:  # only the keys of its namespace can start with it
                keys = self._spaces.get(prefix[: prefix.find(":") + 1], ())
            else:
                keys = data.keys()
            found = []
            for key in keys:
                if key.startswith(prefix):
                    value, expire_at = data[key]
                    if expire_at is None or expire_at > now:
                        found.append((key, value))
        found.sort()
        return found[:limit]

    def __len__(self) -> int:
        """Keys held, expired ones not yet purged included."""
        return len(self._data)

    def close(self) -> None:
        """Drop everything held, so a finished run frees its memory at once."""
        with self._lock:
            self._data.clear()
            self._spaces.clear()
            self._expiry.clear()
            self._events.clear()

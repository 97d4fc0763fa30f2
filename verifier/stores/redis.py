"""A store in Redis, so several server processes and hosts share one state.

Transactions are optimistic: every key read is WATCHed, the writes and events go out
in one MULTI/EXEC, and if another client changed a watched key first the whole
operation runs again on fresh values. Values carry the engine's ``expire_at`` and
reads compare it with the transaction's ``now``: the engine's clock, not Redis's,
decides what has expired; Redis's own expiry only cleans up.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from redis.exceptions import WatchError

from ..events import Event
from ..store import BufferedTransaction, Transaction

T = TypeVar("T")

MAX_TRIES = 1000
PURGE_BATCH = 1000
PURGE_GRACE_S = 60.0
CONNECT_TIMEOUT_S = 10.0
_GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "*?[]\\"})


class ContentionError(RuntimeError):
    """A transaction lost to concurrent writers ``MAX_TRIES`` times in a row."""


def _encode(value: Any, expire_at: float | None) -> str:
    return json.dumps({"v": value, "x": expire_at})


def _decode(raw: bytes | None, now: float) -> Any:
    """The stored value, or None if it is absent or expired by ``now``."""
    if raw is None:
        return None
    entry = json.loads(raw)
    expire_at = entry["x"]
    if expire_at is not None and expire_at <= now:
        return None
    return entry["v"]


class _RedisTransaction(BufferedTransaction):
    __slots__ = ("_events_key", "_kv", "_pipe", "_read")

    def __init__(self, pipe: redis.client.Pipeline, kv: str, events_key: str, now: float) -> None:
        super().__init__(now)
        self._pipe = pipe
        self._kv = kv
        self._events_key = events_key
        self._read: dict[str, bytes | None] = {}

    def _load(self, key: str) -> Any:
        if key not in self._read:
            name = self._kv + key
            self._pipe.watch(name)  # from here the pipeline runs commands immediately
            self._read[key] = self._pipe.get(name)
        return _decode(self._read[key], self.now)

    def reads_were_consistent(self) -> bool:
        """True if no key this transaction read has changed since (an empty MULTI/EXEC)."""
        if not self._read:
            return True
        pipe = self._pipe
        pipe.multi()
        try:
            pipe.execute()
        except WatchError:
            return False
        return True

    def commit(self) -> None:
        """Send the buffered writes and events in one MULTI/EXEC (WatchError: conflict)."""
        pipe, now = self._pipe, self.now
        puts, deletes = self.changes()
        pipe.multi()
        for key, (value, expire_at) in puts.items():
            name = self._kv + key
            if expire_at is None:
                pipe.set(name, _encode(value, None))
            elif expire_at <= now:
                pipe.delete(name)  # already expired for the engine: the same as absent
            else:
                # Redis's clean-up time is relative to the engine's clock, plus a margin
                # so a slow test clock never sees Redis drop a key it still considers live.
                ttl_ms = math.ceil((expire_at - now + PURGE_GRACE_S) * 1000)
                pipe.set(name, _encode(value, expire_at), px=ttl_ms)
        for key in deletes:
            pipe.delete(self._kv + key)
        if self.events:
            pipe.rpush(self._events_key, *(json.dumps(e.to_dict()) for e in self.events))
        pipe.execute()


class RedisStore:
    """Keeps state, events and secrets in the Redis database named by ``url``.

    ``prefix`` namespaces every key, so one database can hold several stores.
    Connecting is checked at once (PING), so a wrong URL fails at start-up.
    """

    def __init__(self, url: str, prefix: str = "smsverify:") -> None:
        self.url = url
        self.prefix = prefix
        self._kv = prefix + "kv:"
        self._events = prefix + "events"
        self._secrets = prefix + "secret:"
        self._client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S)
        self._client.ping()

    def transact(self, fn: Callable[[Transaction], T], now: float) -> T:
        for attempt in range(MAX_TRIES):
            with self._client.pipeline(transaction=True) as pipe:
                tx = _RedisTransaction(pipe, self._kv, self._events, now)
                try:
                    result = fn(tx)
                except redis.RedisError:
                    raise
                except Exception:
                    # An error may come from reads that raced a writer; if so, run again.
                    if not tx.reads_were_consistent():
                        _back_off(attempt)
                        continue
                    raise
                try:
                    tx.commit()
                except WatchError:
                    _back_off(attempt)
                    continue
            if tx.callbacks:
                tx.run_callbacks()
            return result
        raise ContentionError(f"a transaction conflicted {MAX_TRIES} times in a row")

    def purge(self, now: float, events_before: float | None = None) -> int:
        """Redis drops expired keys itself; events are a list in commit order, oldest first."""
        if events_before is None:
            return 0
        dropped = 0
        while True:
            head = self._client.lrange(self._events, 0, PURGE_BATCH - 1)
            old = 0
            for body in head:
                if json.loads(body)["at"] >= events_before:
                    break
                old += 1
            if old == 0:
                return dropped
            # LPOP of exactly the old ones: a concurrent RPUSH only adds at the tail.
            self._client.lpop(self._events, old)
            dropped += old
            if old < len(head):
                return dropped

    def secret(self, name: str, size: int = 32) -> bytes:
        """The secret ``name``, created on first use (SET NX) and shared by every client."""
        key = self._secrets + name
        self._client.set(key, secrets.token_bytes(size), nx=True)
        return bytes(self._client.get(key))

    def events(self, after: int = 0, limit: int | None = None) -> list[Event]:
        if limit is not None and limit <= 0:
            return []
        end = -1 if limit is None else after + limit - 1
        bodies = self._client.lrange(self._events, after, end)
        return [Event.from_dict(json.loads(body)) for body in bodies]

    def scan(self, prefix: str, now: float, limit: int = 100) -> list[tuple[str, Any]]:
        if limit <= 0:
            return []
        pattern = (self._kv + prefix).translate(_GLOB_SPECIAL) + "*"
        names = sorted(set(self._client.scan_iter(match=pattern, count=1000)))
        found: list[tuple[str, Any]] = []
        start = len(self._kv)
        for i in range(0, len(names), 500):
            batch = names[i : i + 500]
            for name, raw in zip(batch, self._client.mget(batch), strict=True):
                value = _decode(raw, now)
                if value is not None:
                    found.append((name.decode()[start:], value))
                    if len(found) >= limit:
                        return found
        return found

    def close(self) -> None:
        self._client.close()

    def __repr__(self) -> str:
        return f"RedisStore(prefix={self.prefix!r})"


def _back_off(attempt: int) -> None:
    """After a few conflicts in a row, wait a random moment so contenders spread out."""
    if attempt >= 2:
        time.sleep(random.uniform(0, min(0.02, 0.0005 * 2 ** min(attempt, 10))))

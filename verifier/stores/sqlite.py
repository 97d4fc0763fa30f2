"""A durable store in one SQLite file, shared safely by threads and worker processes.

Every transaction is ``BEGIN IMMEDIATE`` … ``COMMIT``: SQLite's write lock serialises
them across threads and processes, so a read-modify-write can never interleave with
another. Within one process the threads also queue on a lock of their own first: a
connection that finds SQLite's lock taken sleeps in its busy handler (1 ms, 2 ms, 5 ms,
… up to 100 ms a try) instead of waking when the lock is free, which under a full
thread pool turned a sub-millisecond wait into a tail of hundreds of milliseconds
(docs/benchmarks.md, "HTTP service"). Other processes still meet at SQLite's lock.
For the same reason the WAL checkpoint (SQLite's automatic one runs inside COMMIT, and
its fsync took up to 46 ms here) runs after the lock is released, every
``CHECKPOINT_EVERY`` transactions of the process, as a passive checkpoint.

WAL with ``synchronous=NORMAL`` keeps every committed transaction through a crash of
the process (kill -9); only a power loss or OS crash may lose the last few.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from ..events import Event
from ..store import BufferedTransaction, Transaction

T = TypeVar("T")

BUSY_TIMEOUT_MS = 30_000
PURGE_EVERY = 500
CHECKPOINT_EVERY = 1000  # transactions; one page or two each: about SQLite's 1000-page default

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, expire_at REAL);
CREATE INDEX IF NOT EXISTS kv_expire_at ON kv (expire_at) WHERE expire_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL);
"""


def _prefix_end(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None: none).

    SQLite compares TEXT as UTF-8 bytes, which orders like code points, so
    ``prefix <= key < _prefix_end(prefix)`` is an indexed prefix match.
    """
    chars = list(prefix)
    while chars and ord(chars[-1]) == 0x10FFFF:
        chars.pop()
    if not chars:
        return None
    following = ord(chars[-1]) + 1
    chars[-1] = chr(0xE000 if 0xD800 <= following <= 0xDFFF else following)
    return "".join(chars)


class _SQLiteTransaction(BufferedTransaction):
    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        super().__init__(now)
        self._conn = conn

    def _load(self, key: str) -> Any:
        row = self._conn.execute("SELECT value, expire_at FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        value, expire_at = row
        if expire_at is not None and expire_at <= self.now:
            return None
        return json.loads(value)


class SQLiteStore:
    """Keeps state, events and secrets in the SQLite file at ``path``.

    Each thread of each process gets its own connection, opened on first use, so the
    store works from a threadpool and in processes forked after it was created.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        path = os.fspath(path)
        if not path or path == ":memory:" or path.startswith("file:"):
            raise ValueError(f"SQLiteStore needs a file path, not {path!r}")
        self.path = path
        self.url = "sqlite:///" + path
        self._local = threading.local()
        self._lock = threading.Lock()
        # (pid, thread, connection) for every connection opened, so close() and the
        # pruning of finished threads' connections can reach them.
        self._conns: list[tuple[int, threading.Thread, sqlite3.Connection]] = []
        self._transactions = 0
        self._writer: tuple[int, threading.Lock] = (os.getpid(), threading.Lock())
        conn = self._conn()
        conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection in this process, opened now if there is none yet."""
        local, pid = self._local, os.getpid()
        if getattr(local, "pid", None) == pid:
            return local.conn
        # check_same_thread=False only so close() can close every thread's connection.
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint = 0")  # see transact: outside the lock
        local.pid, local.conn = pid, conn
        with self._lock:
            finished = [c for p, t, c in self._conns if p == pid and not t.is_alive()]
            self._conns = [e for e in self._conns if e[2] not in finished]
            self._conns.append((pid, threading.current_thread(), conn))
        # Threadpools retire idle threads; their connections would otherwise stay open.
        for old in finished:
            old.close()
        return conn

    def _write_lock(self) -> threading.Lock:
        """This process's writer lock (a fresh one in a forked child: never inherited held)."""
        pid, lock = self._writer
        if pid != os.getpid():
            with self._lock:
                if self._writer[0] != os.getpid():
                    self._writer = (os.getpid(), threading.Lock())
                pid, lock = self._writer
        return lock

    def transact(self, fn: Callable[[Transaction], T], now: float) -> T:
        conn = self._conn()
        with self._write_lock():
            tx, result = self._write(conn, fn, now)
            count = self._transactions
        if count % CHECKPOINT_EVERY == 0:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        if tx.callbacks:
            tx.run_callbacks()
        return result

    def _write(
        self, conn: sqlite3.Connection, fn: Callable[[Transaction], T], now: float
    ) -> tuple[_SQLiteTransaction, T]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            tx = _SQLiteTransaction(conn, now)
            result = fn(tx)
            puts, deletes = tx.changes()
            if puts:
                conn.executemany(
                    "INSERT INTO kv (key, value, expire_at) VALUES (?, ?, ?) ON CONFLICT (key)"
                    " DO UPDATE SET value = excluded.value, expire_at = excluded.expire_at",
                    [(k, json.dumps(v), x) for k, (v, x) in puts.items()],
                )
            if deletes:
                conn.executemany("DELETE FROM kv WHERE key = ?", [(k,) for k in deletes])
            if tx.events:
                conn.executemany(
                    "INSERT INTO events (body) VALUES (?)",
                    [(json.dumps(e.to_dict()),) for e in tx.events],
                )
            if self._purge_due():
                conn.execute("DELETE FROM kv WHERE expire_at <= ?", (now,))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return tx, result

    def _purge_due(self) -> bool:
        """True once every ``PURGE_EVERY`` transactions of this store object."""
        with self._lock:
            self._transactions += 1
            return self._transactions % PURGE_EVERY == 0

    def purge(self, now: float, events_before: float | None = None) -> int:
        with self._write_lock():
            return self._purge(self._conn(), now, events_before)

    def _purge(self, conn: sqlite3.Connection, now: float, events_before: float | None) -> int:
        conn.execute("BEGIN IMMEDIATE")
        try:
            dropped = conn.execute("DELETE FROM kv WHERE expire_at <= ?", (now,)).rowcount
            if events_before is not None:
                dropped += conn.execute(
                    "DELETE FROM events WHERE json_extract(body, '$.at') < ?", (events_before,)
                ).rowcount
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return dropped

    def secret(self, name: str, size: int = 32) -> bytes:
        """The secret ``name``, created on first use; every process sharing the file gets it."""
        conn = self._conn()
        conn.execute(
            "INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)",
            (name, secrets.token_bytes(size)),
        )
        (value,) = conn.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()
        return bytes(value)

    def events(self, after: int = 0, limit: int | None = None) -> list[Event]:
        rows = self._conn().execute(
            "SELECT body FROM events ORDER BY seq LIMIT ? OFFSET ?",
            (-1 if limit is None else limit, after),
        )
        return [Event.from_dict(json.loads(body)) for (body,) in rows]

    def scan(self, prefix: str, now: float, limit: int = 100) -> list[tuple[str, Any]]:
        end = _prefix_end(prefix)
        upper = "" if end is None else "AND key < ?"
        args = (prefix,) + (() if end is None else (end,)) + (now, limit)
        rows = self._conn().execute(
            f"SELECT key, value FROM kv WHERE key >= ? {upper}"
            " AND (expire_at IS NULL OR expire_at > ?) ORDER BY key LIMIT ?",
            args,
        )
        return [(key, json.loads(value)) for key, value in rows]

    def close(self) -> None:
        """Close this process's connections; a later call reopens one lazily.

        Connections inherited from a parent process are left alone: closing them in a
        child could disturb the parent's use of the same file.
        """
        pid = os.getpid()
        with self._lock:
            mine = [c for p, _, c in self._conns if p == pid]
            self._conns = [e for e in self._conns if e[0] != pid]
        for conn in mine:
            conn.close()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

"""The ``Store`` contract, run against every store: memory, SQLite and Redis.

The engine relies on each line here: a transaction's writes, events and callbacks take
effect together and once, or not at all; expiry is judged by the transaction's ``now``
(never the wall clock); and concurrent read-modify-writes never lose an update, across
threads and across processes.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from verifier.errors import ConfigError
from verifier.events import Event
from verifier.stores import MemoryStore, open_store

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_700_000_000.0
THREADS, INCREMENTS = 8, 200


# -- fixtures -------------------------------------------------------------------


@pytest.fixture
def store(store_url: str):
    opened = open_store(store_url)
    yield opened
    opened.close()


def put(store, key, value, now=T0, expire_at=None):
    store.transact(lambda tx: tx.put(key, value, expire_at=expire_at), now)


def get(store, key, now=T0):
    return store.transact(lambda tx: tx.get(key), now)


def increment(tx) -> None:
    """The race the engine relies on: read a counter, write it plus one, log it."""
    count = (tx.get("counter") or 0) + 1
    tx.put("counter", count)
    tx.emit(Event("checked_wrong", tx.now, reason=str(count)))


# -- reads and writes -----------------------------------------------------------


def test_missing_key_reads_none(store):
    assert get(store, "nope") is None


def test_put_is_visible_inside_the_transaction_and_after(store):
    def op(tx):
        assert tx.get("a") is None
        tx.put("a", {"n": 1})
        return tx.get("a")

    assert store.transact(op, T0) == {"n": 1}
    assert get(store, "a") == {"n": 1}


def test_delete_is_visible_inside_the_transaction_and_after(store):
    put(store, "a", 1)

    def op(tx):
        tx.delete("a")
        return tx.get("a")

    assert store.transact(op, T0) is None
    assert get(store, "a") is None


def test_put_replaces_and_delete_of_missing_key_is_harmless(store):
    put(store, "a", 1)
    put(store, "a", 2)
    store.transact(lambda tx: tx.delete("never-written"), T0)
    assert get(store, "a") == 2


def test_json_values_round_trip(store):
    value = {
        "text": "日本語 and émoji ✓",
        "int": 2**53 + 1,
        "float": 0.1 + 0.2,
        "bool": True,
        "none": None,
        "list": [1, [2.5, "x"], {"k": False}],
    }
    put(store, "v", value)
    put(store, "s", "plain")
    put(store, "zero", 0)
    assert get(store, "v") == value
    assert get(store, "s") == "plain"
    assert get(store, "zero") == 0


def test_none_cannot_be_stored(store):
    with pytest.raises(ValueError):
        put(store, "a", None)


def test_transaction_returns_what_fn_returns(store):
    assert store.transact(lambda tx: ("result", tx.now), 12.5) == ("result", 12.5)


# -- rollback -------------------------------------------------------------------


class Boom(Exception):
    pass


def test_exception_rolls_back_writes_events_and_callbacks(store):
    put(store, "kept", "before")
    ran = []

    def op(tx):
        tx.put("kept", "after")
        tx.put("new", 1)
        tx.delete("kept")
        tx.emit(Event("started", tx.now))
        tx.after_commit(lambda: ran.append(1))
        raise Boom("fail")

    with pytest.raises(Boom, match="fail"):
        store.transact(op, T0)
    assert get(store, "kept") == "before"
    assert get(store, "new") is None
    assert store.events() == []
    assert ran == []
    # The store is still usable after a rollback.
    put(store, "new", 2)
    assert get(store, "new") == 2


# -- expiry ---------------------------------------------------------------------

FAR = [1_000.0, T0, 4_000_000_000.0]  # far in the past, near, far in the future of wall time


@pytest.mark.parametrize("base", FAR, ids=["past", "now", "future"])
def test_expiry_is_judged_by_the_transactions_now(store, base):
    put(store, "k", "v", now=base, expire_at=base + 10)
    assert get(store, "k", now=base) == "v"
    assert get(store, "k", now=base + 9.999) == "v"
    assert get(store, "k", now=base + 10) is None
    assert get(store, "k", now=base + 1e6) is None


@pytest.mark.parametrize("base", FAR, ids=["past", "now", "future"])
def test_a_key_written_already_expired_reads_as_missing(store, base):
    put(store, "k", "old", now=base)
    put(store, "k", "new", now=base, expire_at=base)
    assert get(store, "k", now=base) is None
    put(store, "gone", "x", now=base, expire_at=base - 5)
    assert get(store, "gone", now=base) is None


def test_without_expire_at_a_key_never_expires(store):
    put(store, "k", "v")
    assert get(store, "k", now=T0 * 100) == "v"


def test_an_expired_key_can_be_written_again(store):
    put(store, "k", 1, expire_at=T0 + 1)
    assert get(store, "k", now=T0 + 2) is None
    put(store, "k", 2, now=T0 + 2, expire_at=T0 + 100)
    assert get(store, "k", now=T0 + 50) == 2


def test_expiry_inside_a_transaction_uses_its_now(store):
    def op(tx):
        tx.put("k", "v", expire_at=tx.now + 5)
        return tx.get("k")

    assert store.transact(op, T0) == "v"
    assert get(store, "k", now=T0 + 4) == "v"


# -- events ---------------------------------------------------------------------


def test_events_are_appended_in_commit_order(store):
    def emit(*kinds):
        def op(tx):
            for kind in kinds:
                tx.emit(Event(kind, tx.now, verification_id="ver_1", reason=kind))

        return op

    store.transact(emit("started", "sent"), T0)
    store.transact(emit("checked_wrong"), T0 + 1.5)
    store.transact(emit("locked", "refused", "bound"), T0 + 2)
    events = store.events()
    assert [e.kind for e in events] == [
        "started",
        "sent",
        "checked_wrong",
        "locked",
        "refused",
        "bound",
    ]
    assert events[2] == Event("checked_wrong", T0 + 1.5, "ver_1", reason="checked_wrong")
    assert store.events(after=2) == events[2:]
    assert store.events(after=1, limit=2) == events[1:3]
    assert store.events(limit=0) == []
    assert store.events(after=6) == []
    assert store.events(after=4, limit=100) == events[4:]


# -- secrets --------------------------------------------------------------------


def test_purge_drops_expired_keys_and_old_events_only(store):
    def op(tx):
        tx.put("gone", 1, expire_at=T0 + 10)
        tx.put("kept", 2, expire_at=T0 + 100)
        tx.put("forever", 3)
        tx.emit(Event("refused", tx.now, reason="old"))

    store.transact(op, T0)
    store.transact(lambda tx: tx.emit(Event("refused", tx.now, reason="new")), T0 + 50)
    dropped = store.purge(T0 + 60, events_before=T0 + 20)
    assert dropped >= 1  # the old event at least (Redis drops expired keys by itself)
    assert [e.reason for e in store.events()] == ["new"]
    assert store.scan("", T0 + 60) == [("forever", 3), ("kept", 2)]
    assert store.purge(T0 + 60, events_before=T0 + 20) == 0
    store.purge(T0 + 60)  # without a cut-off, events stay
    assert len(store.events()) == 1


def test_secret_is_stable_and_of_the_asked_size(store):
    key = store.secret("hmac")
    assert isinstance(key, bytes) and len(key) == 32
    assert store.secret("hmac") == key
    assert store.secret("other", 16) != key
    assert len(store.secret("other", 16)) == 16


def test_secret_is_shared_by_every_store_on_the_same_url(shared_store_url):
    first, second = open_store(shared_store_url), open_store(shared_store_url)
    try:
        key = second.secret("hmac")
        assert first.secret("hmac") == key
        assert second.secret("hmac") == key
    finally:
        first.close()
        second.close()
    reopened = open_store(shared_store_url)
    try:
        assert reopened.secret("hmac") == key
    finally:
        reopened.close()


def test_secret_is_created_once_under_a_race(shared_store_url):
    stores = [open_store(shared_store_url) for _ in range(THREADS)]
    keys: list[bytes] = []
    barrier = threading.Barrier(THREADS)

    def fetch(s):
        barrier.wait()
        keys.append(s.secret("raced"))

    threads = [threading.Thread(target=fetch, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert len(keys) == THREADS and len(set(keys)) == 1


# -- scan -----------------------------------------------------------------------


def test_scan_lists_unexpired_keys_with_the_prefix_in_key_order(store):
    for key in ["q:3", "q:1", "q:2", "qq:1", "p:1", "q"]:
        put(store, key, key.upper())
    put(store, "q:0", "soon", expire_at=T0 + 10)
    assert store.scan("q:", T0) == [("q:0", "soon"), ("q:1", "Q:1"), ("q:2", "Q:2"), ("q:3", "Q:3")]
    assert store.scan("q:", T0 + 10) == [("q:1", "Q:1"), ("q:2", "Q:2"), ("q:3", "Q:3")]
    assert store.scan("q:", T0 + 10, limit=2) == [("q:1", "Q:1"), ("q:2", "Q:2")]
    assert [k for k, _ in store.scan("q", T0 + 10)] == ["q", "q:1", "q:2", "q:3", "qq:1"]
    assert [k for k, _ in store.scan("", T0 + 10, limit=3)] == ["p:1", "q", "q:1"]
    assert store.scan("none:", T0) == []


def test_scan_forgets_deleted_and_purged_keys_and_finds_written_again_ones(store):
    put(store, "n:1", 1)
    put(store, "n:2", 2, expire_at=T0 + 5)
    put(store, "n:3", 3)
    put(store, "m:1", "other")
    store.transact(lambda tx: tx.delete("n:1"), T0)
    store.purge(T0 + 10)
    assert store.scan("n:", T0 + 10) == [("n:3", 3)]
    put(store, "n:1", "again", now=T0 + 10)
    put(store, "n:2", "back", now=T0 + 10)
    put(store, "n:3", "replaced", now=T0 + 10)
    expected = [("n:1", "again"), ("n:2", "back"), ("n:3", "replaced")]
    assert store.scan("n:", T0 + 10) == expected
    assert store.scan("n:1", T0 + 10) == [("n:1", "again")]  # a prefix inside a namespace
    assert store.scan("n", T0 + 10) == expected  # a prefix with no namespace separator
    assert [k for k, _ in store.scan("", T0 + 10)] == ["m:1", "n:1", "n:2", "n:3"]


def test_scan_treats_prefix_characters_literally(store):
    for key in ["a*[x]?\\:1", "a*[x]?\\:2", "ab:1", "a*:1", "outbox:é:1", "outbox:f:1"]:
        put(store, key, 1)
    assert [k for k, _ in store.scan("a*[x]?\\:", T0)] == ["a*[x]?\\:1", "a*[x]?\\:2"]
    assert [k for k, _ in store.scan("outbox:é", T0)] == ["outbox:é:1"]


def test_scan_sees_only_committed_writes(shared_store_url):
    """Durable stores only: a MemoryStore holds its lock while the function runs."""
    store = open_store(shared_store_url)

    def op(tx):
        tx.put("w:1", 1)
        return store.scan("w:", T0)

    assert store.transact(op, T0) == []
    assert store.scan("w:", T0) == [("w:1", 1)]
    store.close()


# -- callbacks ------------------------------------------------------------------


def test_callbacks_run_once_in_order_after_the_commit(store):
    seen = []

    def op(tx):
        tx.put("k", "committed")
        tx.after_commit(lambda: seen.append(("first", get(store, "k"))))
        tx.after_commit(lambda: seen.append(("second", None)))
        assert seen == []  # not while the transaction runs
        return "done"

    assert store.transact(op, T0) == "done"
    assert seen == [("first", "committed"), ("second", None)]


# -- concurrency ----------------------------------------------------------------


def _hammer(store, threads: int, each: int) -> None:
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work():
        try:
            barrier.wait()
            for _ in range(each):
                store.transact(increment, T0)
        except BaseException as err:  # re-raised below in the test's thread
            errors.append(err)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]


def test_concurrent_increments_from_threads_lose_nothing(store):
    _hammer(store, THREADS, INCREMENTS)
    total = THREADS * INCREMENTS
    assert get(store, "counter") == total
    events = store.events()
    assert len(events) == total
    assert sorted(int(e.reason) for e in events) == list(range(1, total + 1))


WORKER = """
import sys
from verifier.events import Event
from verifier.stores import open_store

def increment(tx):
    count = (tx.get("counter") or 0) + 1
    tx.put("counter", count)
    tx.emit(Event("checked_wrong", tx.now, reason=str(count)))

store = open_store(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
for _ in range(int(sys.argv[2])):
    store.transact(increment, float(sys.argv[3]))
store.close()
"""


def test_concurrent_increments_from_processes_lose_nothing(shared_store_url):
    """Two worker processes and this one's threads hammer one counter at the same time."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    store = open_store(shared_store_url)
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, shared_store_url, str(INCREMENTS), str(T0)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    try:
        for w in workers:  # all started up before any begins, so they really overlap
            assert w.stdout.readline().strip() == "ready"
        for w in workers:
            w.stdin.write("go\n")
            w.stdin.flush()
        _hammer(store, 2, INCREMENTS)
        for w in workers:
            assert w.wait(timeout=120) == 0
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
            w.stdin.close()
            w.stdout.close()
    total = 4 * INCREMENTS
    assert get(store, "counter") == total
    assert sorted(int(e.reason) for e in store.events()) == list(range(1, total + 1))
    store.close()


def _increment_in_child(store) -> None:
    store.transact(increment, T0)
    store.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_store_keeps_working_in_a_forked_process(shared_store_url):
    store = open_store(shared_store_url)
    store.transact(increment, T0)  # the parent has a connection before the fork
    child = multiprocessing.get_context("fork").Process(target=_increment_in_child, args=(store,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    store.transact(increment, T0)
    assert get(store, "counter") == 3
    store.close()


# -- store-specific guarantees ----------------------------------------------------


def test_sqlite_data_events_and_secrets_survive_reopening(tmp_path):
    url = f"sqlite:///{tmp_path / 'durable.db'}"
    store = open_store(url)
    put(store, "k", {"kept": True})
    put(store, "short", 1, expire_at=T0 + 1)
    store.transact(lambda tx: tx.emit(Event("started", tx.now, "ver_1")), T0)
    key = store.secret("hmac")
    store.close()
    reopened = open_store(url)
    try:
        assert get(reopened, "k") == {"kept": True}
        assert get(reopened, "short") == 1
        assert get(reopened, "short", now=T0 + 1) is None
        assert reopened.events() == [Event("started", T0, "ver_1")]
        assert reopened.secret("hmac") == key
    finally:
        reopened.close()


def test_sqlite_purges_expired_rows_now_and_then(tmp_path):
    from verifier.stores import sqlite

    store = open_store(f"sqlite:///{tmp_path / 'purge.db'}")
    put(store, "old", 1, expire_at=T0 + 1)
    put(store, "kept", 1)
    for _ in range(sqlite.PURGE_EVERY):
        store.transact(lambda tx: None, T0 + 2)
    rows = store._conn().execute("SELECT key FROM kv").fetchall()
    assert rows == [("kept",)]
    store.close()


def test_sqlite_closes_the_connections_of_finished_threads(tmp_path):
    """A threadpool retires idle threads; their connections must not pile up."""
    store = open_store(f"sqlite:///{tmp_path / 'threads.db'}")
    for _ in range(20):
        worker = threading.Thread(target=store.transact, args=(increment, T0))
        worker.start()
        worker.join()
    assert get(store, "counter") == 20
    assert len(store._conns) <= 3  # the test thread's, the last worker's, at most one more
    store.close()
    assert store._conns == []


def test_redis_reruns_a_transaction_that_lost_a_race(redis_url):
    """Optimistic: a conflicting write makes the whole function run again, effects once."""
    store, rival = open_store(redis_url), open_store(redis_url)
    put(store, "counter", 10)
    runs, done = [], []

    def op(tx):
        runs.append(tx.get("counter"))
        if len(runs) == 1:
            put(rival, "counter", 20)  # another client commits between our read and write
        tx.put("counter", runs[-1] + 1)
        tx.emit(Event("sent", tx.now))
        tx.after_commit(lambda: done.append(True))

    store.transact(op, T0)
    assert runs == [10, 20]
    assert get(store, "counter") == 21
    assert len(store.events()) == 1 and done == [True]
    store.close()
    rival.close()


def test_redis_rereads_a_read_only_transaction_that_raced_a_writer(redis_url):
    """Two reads in one transaction never mix states, even when nothing is written."""
    store, rival = open_store(redis_url), open_store(redis_url)
    store.transact(lambda tx: (tx.put("a", 1), tx.put("b", 1)), T0)
    runs = []

    def op(tx):
        first = tx.get("a")
        if not runs:
            rival.transact(lambda rtx: (rtx.put("a", 2), rtx.put("b", 2)), T0)
        runs.append((first, tx.get("b")))
        return runs[-1]

    assert store.transact(op, T0) == (2, 2)
    assert runs == [(1, 2), (2, 2)]
    store.close()
    rival.close()


def test_redis_reruns_a_function_that_failed_on_raced_reads(redis_url):
    """An error raised on reads another client changed is a conflict, not a result."""
    store, rival = open_store(redis_url), open_store(redis_url)
    put(store, "a", 1)
    runs = []

    def op(tx):
        runs.append(tx.get("a"))
        if len(runs) == 1:
            put(rival, "a", 2)
            raise Boom("read a stale value")
        tx.put("b", runs[-1])

    store.transact(op, T0)
    assert runs == [1, 2] and get(store, "b") == 2

    def fails(tx):
        tx.get("a")
        raise Boom("a real error")

    with pytest.raises(Boom, match="real"):  # on consistent reads the error is fn's own
        store.transact(fails, T0)
    store.close()
    rival.close()


def test_redis_keys_are_namespaced_and_expire_relative_to_the_engines_clock(redis_url):
    import redis

    store = open_store(redis_url)
    put(store, "k", 1, now=1_000.0, expire_at=1_000.0 + 30)
    put(store, "forever", 1, now=1_000.0)
    client = redis.Redis.from_url(redis_url)
    try:
        assert sorted(client.keys("*")) == [b"smsverify:kv:forever", b"smsverify:kv:k"]
        ttl_s = client.pttl("smsverify:kv:k") / 1000
        assert 30 < ttl_s <= 30 + 61  # 30 s of engine time plus the clean-up margin
        assert client.pttl("smsverify:kv:forever") == -1
    finally:
        client.close()
        store.close()


# -- open_store -----------------------------------------------------------------


def test_open_store_picks_the_store_from_the_url(tmp_path, monkeypatch):
    from verifier.stores.sqlite import SQLiteStore

    assert isinstance(open_store("memory://"), MemoryStore)
    absolute = open_store(f"sqlite:///{tmp_path / 'abs.db'}")
    assert isinstance(absolute, SQLiteStore) and absolute.path == str(tmp_path / "abs.db")
    absolute.close()
    monkeypatch.chdir(tmp_path)
    relative = open_store("sqlite:///rel.db")
    put(relative, "k", 1)
    relative.close()
    assert (tmp_path / "rel.db").exists()


def test_open_store_opens_redis(redis_url):
    from verifier.stores.redis import RedisStore

    store = open_store(redis_url)
    assert isinstance(store, RedisStore)
    store.close()


@pytest.mark.parametrize(
    ("url", "names"),
    [
        ("", "expected a store URL"),
        ("postgres://db/x", "'postgres'"),
        ("memory://extra", "memory://"),
        ("sqlite://relative.db", "sqlite:///relative.db"),
        ("sqlite:///", "names no database file"),
        ("sqlite:///:memory:", "plain file"),
        ("sqlite:////no/such/dir/x.db", "cannot open SQLite database"),
        ("redis:///0", "needs a host"),
        ("redis://localhost:notaport/0", "bad port"),
        ("redis://localhost:6379/zero", "'zero'"),
        ("redis://user:hunter2@127.0.0.1:1/0", "cannot use Redis"),
    ],
)
def test_open_store_refuses_unusable_urls_naming_the_problem(url, names):
    with pytest.raises(ConfigError) as caught:
        open_store(url)
    assert caught.value.key == "store"
    assert names in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_importing_verifier_does_not_import_redis_or_sqlite_stores():
    code = (
        "import sys, verifier, verifier.stores; "
        "print(sorted(m for m in sys.modules if m == 'redis' or m.startswith('verifier.stores.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "['verifier.stores.memory']"

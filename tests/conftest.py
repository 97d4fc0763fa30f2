"""Shared fixtures: a throwaway Redis server, and fresh store URLs of every kind.

``redis_server`` starts one ``redis-server`` per test session on a free loopback port,
with persistence off, and yields its URL; ``redis_url`` gives a test that URL with the
database emptied first. Without ``redis-server`` on PATH those tests are skipped, with
the reason shown. ``store_url`` runs a test once per store (memory, SQLite, Redis);
``shared_store_url`` once per store that several processes can share.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REDIS_START_TIMEOUT_S = 10.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_ping(url: str, proc: subprocess.Popen, log) -> None:
    """Return once the server answers PING; fail if it exits or never answers."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    deadline = time.monotonic() + REDIS_START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")
                raise RuntimeError(f"redis-server exited with {proc.returncode}: {output}")
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"redis-server did not answer PING within {REDIS_START_TIMEOUT_S} s"
                )
            time.sleep(0.02)  # polling a starting server, not timing the code under test
    finally:
        client.close()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL (``redis://127.0.0.1:PORT/0``) of a redis-server started for this session."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed: apt-get install redis-server (or brew install)")
    port = _free_port()
    workdir = tmp_path_factory.mktemp("redis")
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(workdir)]
    command += ["--save", "", "--appendonly", "no"]
    url = f"redis://127.0.0.1:{port}/0"
    # The log goes to a file, not a pipe nobody drains, so the server never blocks on it.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for_ping(url, proc, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def redis_url(redis_server: str) -> Iterator[str]:
    """The session server's URL, with its database emptied before the test."""
    import redis

    client = redis.Redis.from_url(redis_server)
    try:
        client.flushdb()
    finally:
        client.close()
    yield redis_server


def _store_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("redis_url")


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh, empty store of each kind (open it with ``open_store``)."""
    return _store_url(request.param, request, tmp_path)


@pytest.fixture(params=["sqlite", "redis"])
def shared_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh store that several store objects and processes can share."""
    return _store_url(request.param, request, tmp_path)

"""Fixtures for the HTTP service: in-process apps on a manual clock, and real servers.

``service`` builds an app around a fresh engine (``MemoryStore``, ``ManualClock``,
store-backed sandbox) and a TestClient for it, for contract tests that need no process.
``server`` starts ``smsverify serve`` as a real process (see ``servekit``) for the tests
where processes, concurrency or crashes matter, and stops it at the end.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servekit import ADMIN_KEY, API_KEYS, VERIFY_KEY, Server, bearer, policy_toml

from verifier import ManualClock, MemoryStore, Policy, SandboxSender, Verifier
from verifier.http import create_app
from verifier.http.auth import KeyRing

with warnings.catch_warnings():
    # starlette asks for httpx2 instead of httpx; the dev extras ship httpx.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

# Contract tests check codes straight away: no automation detector, no velocity limits.
QUIET = {
    "fraud.min_check_delay_s": 0.0,
    "limits.per_ip_per_hour": 0,
    "limits.per_number_per_day": 0,
}


KEYRING = KeyRing.parse(API_KEYS)


@dataclass
class Service:
    """An in-process app; ``client`` calls it with the verify key, ``admin`` with admin."""

    client: TestClient
    clock: ManualClock
    verifier: Verifier
    sandbox: SandboxSender
    admin: TestClient
    anonymous: TestClient

    def code_for(self, e164: str) -> str:
        return self.sandbox.messages(e164)[-1].code


@pytest.fixture
def service() -> Callable[..., Service]:
    """Build a ``Service`` from policy overrides (dotted keys) and ``create_app`` options."""

    def build(policy: dict | None = None, **options) -> Service:
        clock = ManualClock()
        store = MemoryStore()
        sandbox = SandboxSender(store=store, clock=clock)
        overrides = {**QUIET, **(policy or {})}
        verifier = Verifier(
            policy=Policy.default().replace(**overrides), store=store, sender=sandbox, clock=clock
        )
        options.setdefault("keyring", KEYRING)
        app = create_app(verifier, **options)

        def client(secret: str | None) -> TestClient:
            return TestClient(
                app,
                raise_server_exceptions=False,
                headers=bearer(secret),
                client=("127.0.0.1", 50000),  # a loopback peer, as a local proxy would be
            )

        return Service(
            client(VERIFY_KEY), clock, verifier, sandbox, client(ADMIN_KEY), client(None)
        )

    return build


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start real servers (``server(store=..., policy=..., workers=...)``); all stop at the end."""
    started: list[Server] = []

    def launch(**kwargs) -> Server:
        kwargs.setdefault("name", f"server{len(started)}")
        srv = Server(tmp_path, **kwargs)
        started.append(srv)
        return srv.start()

    yield launch
    for srv in started:
        srv.stop()


@pytest.fixture
def toml() -> Callable[..., str]:
    return policy_toml


@pytest.fixture
def racing_server(server, toml, tmp_path: Path, request) -> Callable[..., Server]:
    """A 2-worker server on SQLite or Redis whose policy lets a burst of requests race.

    Only the attempt limit and lockout stay on; the check delay and the velocity limits
    are off so that every request reaches the rule under test.
    """

    def launch(kind: str, max_attempts: int) -> Server:
        store = (
            f"sqlite:///{tmp_path / 'racing.db'}"
            if kind == "sqlite"
            else request.getfixturevalue("redis_url")
        )
        policy = toml(
            check={"max_attempts": max_attempts, "lockout_s": 900},
            fraud={"min_check_delay_s": 0},
            limits={
                "per_ip_per_hour": 0,
                "per_number_per_15min": 0,
                "failures_per_number_per_hour": 0,
                "failures_per_account_per_hour": 0,
            },
        )
        return server(store=store, policy=policy, workers=2)

    return launch

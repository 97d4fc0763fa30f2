"""Run ``smsverify serve`` as a real process and talk to it with the standard library.

Each server gets a free loopback port, its own session (so kill -9 reaches its workers
too), and a log file the tests read back. Waiting is always polling a condition with a
deadline, never a bare sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

START_TIMEOUT_S = 40.0
# The credentials every test server accepts (SMSVERIFY_API_KEYS), one per scope.
VERIFY_KEY = "verify-key-for-tests-0001"
ADMIN_KEY = "admin-key-for-tests-00001"
API_KEYS = f"verify={VERIFY_KEY},admin={ADMIN_KEY}"
# No proxies from the environment: every request here goes to 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float, what: str, pause: float = 0.05):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(pause)  # polling interval of a condition with a deadline


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: object  # parsed JSON, or text

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


def call(
    base: str,
    method: str,
    path: str,
    body: object = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> Answer:
    """One HTTP request; an HTTP error status is an answer, not an exception."""
    data = raw
    headers = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with OPENER.open(request, timeout=timeout) as response:
            status, got, payload = response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        status, got, payload = err.code, err.headers, err.read()
        err.close()
    lowered = {k.lower(): v for k, v in got.items()}
    text = payload.decode("utf-8", errors="replace")
    try:
        parsed: object = json.loads(text) if "json" in lowered.get("content-type", "") else text
    except ValueError:
        parsed = text
    return Answer(status, lowered, parsed)


def bearer(secret: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"} if secret else {}


class Api:
    """The v1 calls the tests make, on one base URL, with one credential (None: none)."""

    def __init__(self, base: str, secret: str | None = VERIFY_KEY) -> None:
        self.base = base
        self.secret = secret

    def __call__(self, method: str, path: str, body: object = None, **kw) -> Answer:
        kw["headers"] = {**bearer(self.secret), **(kw.get("headers") or {})}
        return call(self.base, method, path, body, **kw)

    def as_(self, secret: str | None) -> Api:
        """The same server with another credential."""
        return Api(self.base, secret)

    def start(
        self,
        phone: str,
        account: str,
        country: str | None = "JP",
        headers: dict[str, str] | None = None,
        **extra,
    ) -> Answer:
        body = {"phone": phone, "country": country, "account_id": account, **extra}
        return self("POST", "/v1/verifications", body, headers=headers)

    def check(self, verification_id: str, code: str, **kw) -> Answer:
        return self("POST", f"/v1/verifications/{verification_id}/check", {"code": code}, **kw)

    def get(self, verification_id: str) -> Answer:
        return self("GET", f"/v1/verifications/{verification_id}")

    def code_for(self, e164: str) -> str:
        """The newest code the sandbox holds for ``e164``."""
        answer = self.as_(ADMIN_KEY)("GET", "/sandbox/messages?to=" + quote(e164))
        if answer.status != 200 or not answer.body:
            raise AssertionError(f"no sandbox message: {answer.status} {answer.body}")
        return answer.body[-1]["code"]


def policy_toml(**tables: dict) -> str:
    """TOML text for a policy that changes only the given keys."""
    lines = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        for key, value in values.items():
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, str):
                text = f'"{value}"'
            else:
                text = repr(value)
            lines.append(f"{key} = {text}")
    return "\n".join(lines) + "\n"


def wrong_code(code: str) -> str:
    return f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"


def jp_mobile(n: int) -> tuple[str, str]:
    """A distinct valid Japanese mobile number: (national form, E.164)."""
    digits = f"{n:08d}"
    return f"090-{digits[:4]}-{digits[4:]}", f"+8190{digits}"


class Server:
    """One ``python -m smsverify serve`` process (and its workers)."""

    def __init__(
        self,
        workdir: Path,
        *,
        store: str,
        policy: str | None = None,
        workers: int = 1,
        sender: str = "sandbox",
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
        name: str = "server",
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.store = store
        self.workers = workers
        self.sender = sender
        self.env = env or {}
        self.extra_args = extra_args
        self.log_path = self.workdir / f"{name}.log"
        self.policy_path = None
        if policy is not None:
            self.policy_path = self.workdir / f"{name}-policy.toml"
            self.policy_path.write_text(policy)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.starts = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> Api:
        return Api(self.base)

    @property
    def admin(self) -> Api:
        return Api(self.base, ADMIN_KEY)

    def start(self) -> Server:
        if self.proc is not None:
            # A second start would orphan the first server (``with Server(...).start()``).
            raise RuntimeError("this server is already started: stop or kill it first")
        self.port = free_port()
        command = [sys.executable, "-m", "smsverify", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--store", self.store, "--sender", self.sender]
        command += ["--workers", str(self.workers), *self.extra_args]
        if "--hmac-key-file" not in self.extra_args:
            # Beside the test's files, never in the home of whoever runs the tests.
            command += ["--hmac-key-file", str(self.workdir / "hmac.key")]
        if self.policy_path is not None:
            command += ["--policy", str(self.policy_path)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "SMSVERIFY_API_KEYS": API_KEYS, **self.env}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()/kill()
        self.proc = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.starts += 1
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.log()}")
            try:
                return call(self.base, "GET", "/healthz", timeout=2).status == 200
            except OSError:
                return False

        wait_for(ready, START_TIMEOUT_S, "the server's /healthz")
        if self.workers > 1:
            # Every worker should be serving before a concurrency test begins.
            pids: set[int] = set()

            def all_up() -> bool:
                pids.add(call(self.base, "GET", "/healthz", timeout=2).body["pid"])
                return len(pids) >= self.workers

            wait_for(all_up, START_TIMEOUT_S, "every worker's /healthz", pause=0.01)

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)  # the session this test started, and only it

    def kill(self) -> None:
        """kill -9 the server and its workers, as a crash would."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._close()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.proc.wait(timeout=10)
        # Workers may outlive a parent that was told to stop; make sure none remain.
        self._signal_group(signal.SIGKILL)
        self._close()

    def _close(self) -> None:
        self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

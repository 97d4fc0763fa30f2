"""Child processes of a load test: started on loopback, logged to files, always stopped.

Every process gets its own session (process group), so stopping it also stops what it
started (uvicorn workers); ``Children`` is a context manager that stops them all on the
way out, on success, on an exception and on Ctrl-C alike. Each child's environment
names the run's output folder in ``SMSVERIFY_LOADTEST_OUT``, so a leftover process can
always be traced to the run that started it. Waiting is polling a condition against a
deadline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

# No proxy from the environment: every request here goes to 127.0.0.1.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
STOP_TIMEOUT_S = 15.0
MARKER = "SMSVERIFY_LOADTEST_OUT"  # in every child's environment: which run started it


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(
    url: str,
    method: str = "GET",
    body: dict | None = None,
    timeout: float = 30.0,
    *,
    form: dict | None = None,
    headers: dict | None = None,
):
    """``(status, text)`` of one request; an HTTP error status is an answer, not an error.

    ``body`` goes as JSON, ``form`` form-encoded (as ``/v2`` takes it).
    """
    headers = dict(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with OPENER.open(request, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


def fetch_json(url: str, timeout: float = 30.0):
    status, text = fetch(url, timeout=timeout)
    if status != 200:
        raise RuntimeError(f"{url} answered {status}")
    return json.loads(text)


class Children:
    """The processes one load test started, each with its log file in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: list = []

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc) -> None:
        self.stop_all()

    def start(self, name: str, command: Sequence[str], env: dict | None = None):
        log = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop_all
        self._logs.append(log)
        proc = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, MARKER: str(self.folder.resolve()), **(env or {})},
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.folder / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text("utf-8", errors="replace").splitlines()[-lines:])

    def wait_healthy(self, name: str, url: str, timeout: float = 60.0) -> None:
        """Return once ``url`` answers 200; fail if the process exits or time runs out."""
        proc = self.procs[name]
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            try:
                if fetch(url, timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not answer {url} within {timeout:g} s")
            time.sleep(0.1)  # polling a starting server

    def wait(self, name: str, timeout: float) -> int | None:
        """The exit status of ``name`` once it ends, or None if it outlives ``timeout``."""
        try:
            return self.procs[name].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        """Signal the process group of ``name``; SIGKILL it if it lingers."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass

    def stop_all(self) -> None:
        # Last started first: load generators before the servers they talk to.
        for name in reversed(list(self.procs)):
            self.stop(name)
        for log in self._logs:
            log.close()
        self._logs.clear()

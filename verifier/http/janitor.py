"""The server's own clean-up: expired records and old events leave the store on time.

Stores purge expired keys as they go, but only while traffic comes in, and events have
no expiry of their own; so each worker runs this job beside the app, calling
``Verifier.purge`` every ``every_s`` seconds (``privacy.retention_s`` decides what goes).
"""

from __future__ import annotations

import threading

from ..lifecycle import Verifier
from . import logs

LOG = logs.get("janitor")


class Janitor:
    """A daemon thread that purges the verifier's store at a fixed interval."""

    def __init__(self, verifier: Verifier, every_s: float) -> None:
        if every_s <= 0:
            raise ValueError("every_s must be positive")
        self.verifier = verifier
        self.every_s = every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="smsverify-janitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                dropped = self.verifier.purge()
            except Exception as exc:  # the store may be briefly unreachable; try next time
                LOG.warning(
                    "purge failed", extra={"event": "purge", "error_type": type(exc).__name__}
                )
                continue
            if dropped:
                LOG.info("purged", extra={"event": "purge", "result": dropped})

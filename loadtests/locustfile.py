"""Locust entry point of ``smsverify loadtest``: one open-arrival driver per process.

Run it through ``smsverify loadtest`` (which writes the configuration this file reads
from ``SMSVERIFY_LOADTEST_CONFIG`` and starts the server and the fake gateway). By hand,
with that variable set::

    python -m locust -f loadtests/locustfile.py --headless -u 1 -r 1 -t 60s --host URL

``Arrivals`` is the only Locust user: exactly one per process (``-u`` = number of
processes generating load). It does no requests itself; it starts the process's
:class:`~loadtests.flows.Process`, whose greenlets play buyers, brute-forcers, pumpers
and enumerators (``loadtests/visitors.py``) at the scenario's arrival times, sharing
this user's connection pool to the service and a second pool to the gateway.
"""

from __future__ import annotations

import gevent
from locust import FastHttpUser, constant, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.runners import WorkerRunner

from loadtests.api import MAX_POLL_S
from loadtests.config import LoadConfig
from loadtests.flows import Process

CONFIG = LoadConfig.from_env()


class Arrivals(FastHttpUser):
    """Starts this process's arrivals; the sessions it spawns share its client pool."""

    concurrency = CONFIG.sessions_per_process + 4
    network_timeout = 30.0
    connection_timeout = 10.0
    wait_time = constant(1)

    def on_start(self) -> None:
        if Process.current is None:
            gateway = FastHttpSession(
                CONFIG.gateway,
                request_event=self.environment.events.request,
                user=None,
                concurrency=CONFIG.sessions_per_process + 4,
                network_timeout=MAX_POLL_S + 10,
                connection_timeout=10.0,
            )
            index = max(0, getattr(self.environment.runner, "worker_index", 0))
            Process.current = Process(self.client, gateway, CONFIG, index)
            Process.current.start()

    @task
    def idle(self) -> None:
        """Nothing: the process's greenlets do the work on their own schedule."""


@events.test_start.add_listener
def _warm_up(environment, **_kwargs) -> None:
    """Forget what Locust counted before ``warmup_s`` (on the node that reports)."""
    if CONFIG.warmup_s > 0 and not isinstance(environment.runner, WorkerRunner):
        gevent.spawn_later(CONFIG.lead_s + CONFIG.warmup_s, environment.stats.reset_all)


@events.test_stopping.add_listener
def _stopping(**_kwargs) -> None:
    if Process.current is not None:
        Process.current.stop()


@events.quitting.add_listener
def _quitting(**_kwargs) -> None:
    if Process.current is not None:
        Process.current.stop()

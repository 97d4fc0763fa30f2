"""The SMS gateway: ``channels`` messages in service at once, a FIFO queue, latency, loss.

A message handed over by the engine's sender requests a channel of a SimPy
``Resource`` (FIFO), holds it for a service time (the gateway-to-handset latency), then
is delivered to the handset of its number, unless it is lost. A lost message queues
and holds a channel like any other; it is just never delivered. A message whose service
*starts* inside a busy window [k·every_s, k·every_s + length_s), k ≥ 1, has its service
time multiplied by ``slowdown``.

Callbacks on the request and the timeout do the work (no process per message): three
SimPy events per message. Per-message times are logged in flat float columns for the KPIs
(spooled to temporary files in long runs, see ``spool.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import simpy

from .durations import stream, uniforms
from .scenario import GatewayConfig
from .spool import Spool


class Handset:
    """A phone that receives codes; the simulated person reads ``code`` from it.

    ``waiter`` is a SimPy event its owner may park on; a delivery triggers it. A phone set
    to reject SMS (``blocked``) never receives anything.
    """

    __slots__ = ("blocked", "code", "received", "waiter")

    def __init__(self, blocked: bool = False) -> None:
        self.blocked = blocked
        self.code: str | None = None
        self.received = 0
        self.waiter: simpy.Event | None = None

    def deliver(self, code: str, call: bool = False) -> None:
        """A code lands: by SMS (never on a phone that rejects SMS), or by a call."""
        if self.blocked and not call:
            return
        self.code = code
        self.received += 1
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.triggered:
                waiter.succeed(True)


def _wake(event: simpy.Event, _timer: simpy.Event) -> None:
    if not event.triggered:
        event.succeed(False)


def next_sms(env: simpy.Environment, handset: Handset, until: float) -> simpy.Event:
    """An event triggered by the next delivery to ``handset`` (value True) or at ``until``.

    One plain event and one timeout, instead of an ``AnyOf`` condition; the owner resets
    ``handset.waiter`` after waking.
    """
    event = env.event()
    handset.waiter = event
    env.timeout(max(0.0, until - env.now)).callbacks.append(partial(_wake, event))
    return event


class Gateway:
    """The SMS gateway of one replication; ``submit`` is what the engine's sender calls.

    With ``calls = True`` it is the voice gateway: the same queue, its own lines and
    times, and a delivered call reaches even a phone that rejects SMS.
    """

    def __init__(
        self,
        env: simpy.Environment,
        config: GatewayConfig,
        rng: np.random.Generator,
        handsets: dict[str, Handset] | None = None,
        calls: bool = False,
    ) -> None:
        self.env = env
        self.calls = calls
        self.config = config
        self.channels = simpy.Resource(env, capacity=config.channels)
        self.handsets: dict[str, Handset] = {} if handsets is None else handsets
        self._service = stream(config.service_time.block(rng))
        self._uniform = uniforms(rng)
        self._loss_rate = config.loss_rate
        self._busy = config.busy
        self.sent = 0
        self.lost = 0
        self.delivered = 0
        # One entry per message that has started service, in start order (= FIFO order).
        self.submitted_at = Spool("d")
        self.started_at = Spool("d")
        self.ended_at = Spool("d")

    def submit(self, to: str, code: str, receipt: Callable[[str], None] | None = None) -> None:
        """Queue one message for ``to`` carrying ``code``; ``receipt(state)`` hears of it."""
        self.sent += 1
        request = self.channels.request()
        request.callbacks.append(partial(self._start, to, code, self.env.now, receipt))

    def _start(
        self,
        to: str,
        code: str,
        submitted: float,
        receipt: Callable[[str], None] | None,
        request: simpy.Event,
    ) -> None:
        now = self.env.now
        service = next(self._service)
        busy = self._busy
        if busy is not None and busy.contains(now):
            service *= busy.slowdown
        self.submitted_at.append(submitted)
        self.started_at.append(now)
        self.ended_at.append(now + service)
        if receipt is not None:
            receipt("sent")
        done = self.env.timeout(service)
        done.callbacks.append(partial(self._done, to, code, receipt, request))

    def _done(
        self,
        to: str,
        code: str,
        receipt: Callable[[str], None] | None,
        request: simpy.Event,
        _event: simpy.Event,
    ) -> None:
        self.channels.release(request)
        if self._loss_rate and next(self._uniform) < self._loss_rate:
            self.lost += 1
            if receipt is not None:
                receipt("failed")
            return
        self.delivered += 1
        if receipt is not None:
            receipt("delivered")  # before the phone hears it: the code's TTL starts now
        handset = self.handsets.get(to)
        if handset is not None:
            handset.deliver(code, self.calls)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Submission, service-start and service-end times of every started message."""
        return self.submitted_at.to_numpy(), self.started_at.to_numpy(), self.ended_at.to_numpy()

    def close(self) -> None:
        """Drop the per-message log (and its temporary files) once the KPIs are computed."""
        for log in (self.submitted_at, self.started_at, self.ended_at):
            log.close()

    def cost(self) -> float:
        return self.sent * self.config.cost_per_sms

"""A fake SMS gateway with the model's parameters, run as its own process on loopback.

Shaped like a provider's send API: ``POST /messages`` accepts a message (202) or refuses
it when the queue is full (429, or 503 inside a busy period). Accepted messages wait
for one of ``channels``, hold it for a service time drawn from the scenario's
distribution (slowed ``slowdown``-fold when service starts in a busy window), and are
then delivered to the number's inbox, or lost with probability ``loss_rate``. A repeat
with the same ``Idempotency-Key`` (the service's outbox delivers at least once) gets
the first answer and queues nothing.

``GET /inbox/{e164}?after=N&wait_s=S`` plays the buyer's phone: the messages after the
N-th delivered to that number, waiting up to S seconds for one (a long poll, so a
phone learns of an SMS the moment it lands without hammering the gateway).
A message with ``"channel": "call"`` is a voice call: it queues for the scenario's
``[voice]`` lines (their own count, answer time and no-answer rate), and once answered
lands in the same inbox with ``channel: "call"`` and the code heard.
``POST /timeline`` fixes the run's time zero once (the first caller wins; later callers
get the same answer), so the load generators' arrival schedules, the busy windows and
the per-second series all count from the same instant. ``GET /stats`` gives counts,
queue waits, a per-second series and, with ``?messages=1``, every message's queued,
start and end times. Buyer and gateway timings are real seconds; only the busy-window
timeline is squeezed by ``compress`` like the arrival profile.

    python -m loadtests.gateway --scenario steady --port 9100 [--compress X] [--seed N]
        [--queue-limit N] [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import re
import time
import urllib.request
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from simulation.durations import stream, uniforms
from simulation.scenario import GatewayConfig, load

CODE = re.compile(r"\b(\d{4,10})\b")
SPOKEN = re.compile(r"\b(\d(?:, \d){3,9})\b")  # a call's text: the digits one by one
INBOX_KEEP = 20
MAX_POLL_S = 30.0
IDEMPOTENCY_KEEP = 100_000
LOOPBACK = ("http://127.0.0.1:", "http://localhost:", "http://[::1]:")


def post_receipt(url: str, payload: dict) -> None:
    """POST one delivery receipt; a receipt that cannot be delivered is dropped, as a real
    gateway's would be after its retries (the verification keeps its last known state)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            answer.read()
    except OSError:
        pass


@dataclass
class Second:
    """What happened in one second of the run's timeline (second 0 starts at time zero)."""

    accepted: int = 0
    refused: int = 0
    delivered: int = 0
    lost: int = 0
    queue_max: int = 0  # most messages waiting for a channel at once
    wait_sum_s: float = 0.0
    waits: int = 0


@dataclass
class GatewayState:
    """Counters, inboxes and per-message times of one fake gateway process."""

    waiting: int = 0
    in_service: int = 0
    accepted: int = 0
    refused: int = 0
    repeated: int = 0
    delivered: int = 0
    lost: int = 0
    waits: list[float] = field(default_factory=list)
    inbox: dict[str, deque] = field(default_factory=dict)
    received: dict[str, int] = field(default_factory=dict)
    seconds: dict[int, Second] = field(default_factory=dict)
    # (queued, service start, service end, lost) in monotonic seconds, in start order.
    messages: list[tuple[float, float, float, bool]] = field(default_factory=list)


class FakeGateway:
    """The queueing core: ``channels`` in service at once, FIFO beyond, bounded queue."""

    def __init__(
        self,
        config: GatewayConfig,
        seed: int = 1,
        queue_limit: int = 10_000,
        compress: float = 1.0,
        calls: GatewayConfig | None = None,
    ) -> None:
        if queue_limit < 1:
            raise ValueError("queue_limit must be at least 1")
        if compress <= 0:
            raise ValueError("compress must be positive")
        rng_service, rng_loss = (
            np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)
        )
        self.config = config
        self.queue_limit = queue_limit
        self.compress = compress
        self.state = GatewayState()
        self._service = stream(config.service_time.block(rng_service))
        self._loss = uniforms(rng_loss)
        self._ids = itertools.count(1)
        self._channels: asyncio.Semaphore | None = None
        self._phones: dict[str, list[asyncio.Future]] = {}
        self._keys: OrderedDict[str, str] = OrderedDict()
        self._started = time.monotonic()
        self.epoch: float | None = None  # wall-clock time zero, once fixed
        self.channel = "sms"
        self._home = self  # where delivered messages land (the phone's inbox)
        # Calls queue for their own lines, with their own times and no-answer rate, and
        # land in the same inboxes.
        self.calls: FakeGateway | None = None
        if calls is not None:
            self.calls = FakeGateway(calls, seed + 1_000_003, queue_limit, compress)
            self.calls.channel = "call"
            self.calls._home = self

    def set_epoch(self, epoch: float) -> float:
        """Fix time zero at wall-clock ``epoch`` unless already fixed; return the one in force."""
        if self.epoch is None:
            self.epoch = epoch
            self._started = time.monotonic() - (time.time() - epoch)
            if self.calls is not None:
                self.calls.set_epoch(epoch)
        return self.epoch

    def _second(self, now: float) -> Second:
        key = math.floor(now - self._started)
        bucket = self.state.seconds.get(key)
        if bucket is None:
            bucket = self.state.seconds[key] = Second()
        return bucket

    def in_busy_window(self, now: float) -> bool:
        busy = self.config.busy
        return busy is not None and busy.contains((now - self._started) * self.compress)

    def _receipt(self, callback: str | None, state: str, wait: float | None = None) -> None:
        if callback is None:
            return
        payload = {"state": state}
        if wait is not None:
            payload["expected_wait_s"] = round(wait, 3)
        asyncio.get_running_loop().run_in_executor(None, post_receipt, callback, payload)

    def submit(
        self, to: str, body: str, key: str | None = None, callback: str | None = None
    ) -> str | None:
        """Queue a message and return its id, or None when the queue is full.

        A ``key`` seen before returns the first message's id and queues nothing. With a
        ``callback`` URL, the message's receipts (queued with the expected wait, sent,
        delivered or failed) are posted to it.
        """
        if key is not None and key in self._keys:
            self.state.repeated += 1
            return self._keys[key]
        if self._channels is None:
            self._channels = asyncio.Semaphore(self.config.channels)
        now = time.monotonic()
        bucket = self._second(now)
        if self.state.waiting >= self.queue_limit:
            self.state.refused += 1
            bucket.refused += 1
            return None
        message_id = f"msg-{next(self._ids)}"
        if key is not None:
            self._keys[key] = message_id
            if len(self._keys) > IDEMPOTENCY_KEEP:
                self._keys.popitem(last=False)
        self.state.accepted += 1
        bucket.accepted += 1
        self.state.waiting += 1
        # The queue proper: messages beyond what the channels hold (the new one has not
        # taken its free channel yet, so ``waiting`` alone overstates it).
        queued = self.state.waiting + self.state.in_service - self.config.channels
        bucket.queue_max = max(bucket.queue_max, queued)
        self._receipt(callback, "queued", max(0, queued) * self._mean_per_channel())
        asyncio.get_running_loop().create_task(self._serve(message_id, to, body, now, callback))
        return message_id

    def _mean_per_channel(self) -> float:
        """The expected wait per message ahead in the queue (mean service over channels)."""
        return self.config.service_time.mean() / self.config.channels

    async def _serve(
        self, message_id: str, to: str, body: str, queued_at: float, callback: str | None = None
    ) -> None:
        async with self._channels:
            start = time.monotonic()
            self._receipt(callback, "sent")
            self.state.waiting -= 1
            self.state.in_service += 1
            wait = start - queued_at
            self.state.waits.append(wait)
            bucket = self._second(start)
            bucket.wait_sum_s += wait
            bucket.waits += 1
            service = next(self._service)
            if self.in_busy_window(start):
                service *= self.config.busy.slowdown
            lost = next(self._loss) < self.config.loss_rate
            self.state.messages.append((queued_at, start, start + service, lost))
            await asyncio.sleep(service)
            self.state.in_service -= 1
        bucket = self._second(time.monotonic())
        if lost:
            self.state.lost += 1
            bucket.lost += 1
            self._receipt(callback, "failed")
            return
        self.state.delivered += 1
        bucket.delivered += 1
        self._receipt(callback, "delivered")
        self._home._deliver(message_id, to, body, self.channel)

    def _deliver(self, message_id: str, to: str, body: str, channel: str = "sms") -> None:
        n = self.state.received.get(to, 0) + 1
        self.state.received[to] = n
        if channel == "call":
            spoken = SPOKEN.search(body)
            code = spoken.group(1).replace(", ", "") if spoken else None
        else:
            found = CODE.search(body)
            code = found.group(1) if found else None
        inbox = self.state.inbox.setdefault(to, deque(maxlen=INBOX_KEEP))
        inbox.append(
            {
                "id": message_id,
                "n": n,
                "body": body,
                "code": code,
                "channel": channel,
                "delivered_at": time.time(),
            }
        )
        for waiter in self._phones.pop(to, ()):
            if not waiter.done():
                waiter.set_result(None)

    def messages_after(self, to: str, after: int) -> list[dict]:
        return [m for m in self.state.inbox.get(to, ()) if m["n"] > after]

    async def wait_inbox(self, to: str, after: int, wait_s: float) -> list[dict]:
        """The messages to ``to`` after the ``after``-th, waiting up to ``wait_s`` for one."""
        found = self.messages_after(to, after)
        if found or wait_s <= 0:
            return found
        waiter = asyncio.get_running_loop().create_future()
        self._phones.setdefault(to, []).append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout=min(wait_s, MAX_POLL_S))
        except TimeoutError:
            pass
        finally:
            waiters = self._phones.get(to)
            if waiters and waiter in waiters:
                waiters.remove(waiter)
                if not waiters:
                    del self._phones[to]
        return self.messages_after(to, after)

    def stats(self, messages: bool = False) -> dict:
        waits = sorted(self.state.waits)
        s = self.state
        out = {
            "channels": self.config.channels,
            "epoch": self.epoch,
            "accepted": s.accepted,
            "refused": s.refused,
            "repeated": s.repeated,
            "delivered": s.delivered,
            "lost": s.lost,
            "waiting": s.waiting,
            "in_service": s.in_service,
            "wait_mean_s": sum(waits) / len(waits) if waits else None,
            "wait_p99_s": waits[int(0.99 * (len(waits) - 1))] if waits else None,
            "timeseries": [{"t": t, **vars(b)} for t, b in sorted(self.state.seconds.items())],
        }
        if messages:
            zero = self._started
            out["messages"] = [[q - zero, b - zero, e - zero, lost] for q, b, e, lost in s.messages]
        if self.calls is not None:
            calls = self.calls.stats(messages)
            out["calls"] = {k: v for k, v in calls.items() if k not in ("epoch", "timeseries")}
        return out


def create_app(gateway: FakeGateway) -> FastAPI:
    """The gateway's HTTP face: send, inbox, timeline, stats, health."""
    app = FastAPI(title="smsverify fake SMS gateway", docs_url=None, redoc_url=None)

    @app.post("/messages", status_code=202)
    async def send(request: Request):
        try:
            data = await request.json()
        except ValueError:
            return JSONResponse({"error": "invalid_json"}, status_code=400)
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) and data.get(k) for k in ("to", "body")
        ):
            return JSONResponse({"error": "to and body are required strings"}, status_code=400)
        channel = data.get("channel", "sms")
        if channel not in ("sms", "call") or (channel == "call" and gateway.calls is None):
            return JSONResponse({"error": "channel must be sms or call"}, status_code=400)
        callback = data.get("status_callback")
        if callback is not None and not (
            isinstance(callback, str) and callback.startswith(LOOPBACK)
        ):
            return JSONResponse(
                {"error": "status_callback must be a loopback http URL"}, status_code=400
            )
        key = request.headers.get("idempotency-key")
        pool = gateway.calls if channel == "call" else gateway
        message_id = pool.submit(data["to"], data["body"], key, callback)
        if message_id is None:
            status = 503 if gateway.in_busy_window(time.monotonic()) else 429
            return JSONResponse(
                {"error": "queue_full"}, status_code=status, headers={"Retry-After": "1"}
            )
        return {"id": message_id, "status": "queued"}

    @app.get("/inbox/{e164}")
    async def inbox(e164: str, after: int = 0, wait_s: float = 0.0):
        return await gateway.wait_inbox(e164, after, wait_s)

    @app.post("/timeline")
    async def timeline(request: Request):
        try:
            data = await request.json()
        except ValueError:
            data = {}
        lead = data.get("lead_s", 0.0) if isinstance(data, dict) else 0.0
        if isinstance(lead, bool) or not isinstance(lead, int | float) or not 0 <= lead <= 60:
            return JSONResponse({"error": "lead_s must be 0..60 seconds"}, status_code=400)
        return {"epoch": gateway.set_epoch(time.time() + lead)}

    @app.get("/stats")
    async def stats(messages: bool = False):
        return gateway.stats(messages)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    return app


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the fake SMS gateway on loopback.")
    parser.add_argument("--scenario", required=True, help="shipped name or TOML file")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--queue-limit", type=int, default=10_000)
    parser.add_argument("--compress", type=float, default=1.0)
    parser.add_argument(
        "--channels", type=int, help="SMS channels in place of the scenario's (a capacity run)"
    )
    parser.add_argument(
        "--no-busy", action="store_true", help="leave out the scenario's busy windows"
    )
    args = parser.parse_args(argv)
    scenario = load(args.scenario)
    if args.channels is not None:
        scenario = scenario.replace(**{"gateway.channels": args.channels})
    if args.no_busy:
        scenario = scenario.replace(**{"gateway.busy": None})
    gateway = FakeGateway(
        scenario.gateway,
        args.seed,
        args.queue_limit,
        args.compress,
        calls=scenario.voice.as_gateway(),
    )
    uvicorn.run(
        create_app(gateway), host=args.host, port=args.port, log_level="warning", access_log=False
    )


if __name__ == "__main__":
    main()

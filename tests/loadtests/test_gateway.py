"""The fake SMS gateway's queueing, in real (short) time, against exact expectations."""

from __future__ import annotations

import asyncio

import pytest

from loadtests.gateway import FakeGateway
from simulation.durations import Duration
from simulation.scenario import Busy, GatewayConfig


def config(channels=4, service=0.05, loss=0.0, busy=None) -> GatewayConfig:
    return GatewayConfig(channels, Duration.fixed(service), busy, loss, 0.05)


async def burst(gateway: FakeGateway, n: int, settle: float) -> None:
    for i in range(n):
        gateway.submit(f"+8190{10000000 + i}", f"Your verification code is {i:06d}.")
    await asyncio.sleep(settle)


def test_a_burst_drains_channel_by_channel():
    """Fixed service s, c channels, n at once: the k-th message waits floor(k/c)·s."""
    gateway = FakeGateway(config(channels=4, service=0.05))
    asyncio.run(burst(gateway, 40, settle=0.8))
    waits = gateway.state.waits
    assert len(waits) == 40 and gateway.state.delivered == 40
    expected = [(k // 4) * 0.05 for k in range(40)]
    assert sum(waits) / 40 == pytest.approx(sum(expected) / 40, abs=0.02)
    assert max(waits) == pytest.approx(max(expected), abs=0.03)
    assert gateway.state.inbox["+819010000007"][-1]["code"] == "000007"
    assert max(b.queue_max for b in gateway.state.seconds.values()) == 40 - 4


def test_a_full_queue_refuses():
    gateway = FakeGateway(config(channels=1, service=0.05), queue_limit=5)

    async def run():
        ids = [gateway.submit(f"+8190{10000000 + i}", "code 123456") for i in range(10)]
        await asyncio.sleep(0.5)
        return ids

    ids = asyncio.run(run())
    assert ids[:5] == [f"msg-{i}" for i in range(1, 6)] and ids[5:] == [None] * 5
    assert gateway.state.refused == 5 and gateway.state.delivered == 5


def test_lost_messages_hold_a_channel_and_never_arrive():
    gateway = FakeGateway(config(channels=2, service=0.01, loss=1.0))
    asyncio.run(burst(gateway, 6, settle=0.2))
    assert gateway.state.lost == 6 and gateway.state.delivered == 0
    assert gateway.state.inbox == {} and len(gateway.state.waits) == 6


def test_busy_windows_slow_service_on_the_compressed_timeline():
    busy = Busy(every_s=10.0, length_s=10.0, slowdown=4.0)
    gateway = FakeGateway(config(channels=1, service=0.02, busy=busy), compress=1000.0)
    assert gateway.in_busy_window(gateway._started + 0.015)  # scenario time 15 s
    assert not gateway.in_busy_window(gateway._started + 0.005)  # scenario time 5 s


def test_the_inbox_long_poll_answers_when_the_sms_lands():
    gateway = FakeGateway(config(channels=1, service=0.1))

    async def run():
        loop = asyncio.get_running_loop()
        gateway.submit("+819012345678", "Your verification code is 123456.")
        asked = loop.time()
        first = await gateway.wait_inbox("+819012345678", after=0, wait_s=5)
        waited = loop.time() - asked
        asked = loop.time()
        none = await gateway.wait_inbox("+819012345678", after=1, wait_s=0.2)
        return first, waited, none, loop.time() - asked

    first, waited, none, timeout = asyncio.run(run())
    assert [(m["n"], m["code"]) for m in first] == [(1, "123456")]
    assert 0.09 <= waited < 1.0  # the service time, not the 5 s poll limit
    assert none == [] and 0.19 <= timeout < 1.0


def test_a_repeated_idempotency_key_queues_nothing():
    gateway = FakeGateway(config(channels=1, service=0.01))

    async def run():
        first = gateway.submit("+819012345678", "code 123456", key="outbox:1")
        again = gateway.submit("+819012345678", "code 123456", key="outbox:1")
        await asyncio.sleep(0.1)
        return first, again

    first, again = asyncio.run(run())
    assert first == again
    assert (gateway.state.accepted, gateway.state.repeated, gateway.state.delivered) == (1, 1, 1)


def test_time_zero_is_fixed_once_over_http():
    """The first load generator to ask fixes time zero; later ones get the same answer."""
    import httpx

    from loadtests.gateway import create_app

    gateway = FakeGateway(config())

    async def run():
        transport = httpx.ASGITransport(app=create_app(gateway))
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            first = (await client.post("/timeline", json={"lead_s": 1.0})).json()["epoch"]
            second = (await client.post("/timeline", json={"lead_s": 5.0})).json()["epoch"]
            bad = (await client.post("/timeline", json={"lead_s": -1})).status_code
            stats = (await client.get("/stats?messages=1")).json()
        return first, second, bad, stats

    first, second, bad, stats = asyncio.run(run())
    assert first == second == stats["epoch"] and bad == 400
    assert stats["messages"] == []


def test_the_gateway_queues_like_the_model_on_the_same_arrivals():
    """Same arrival instants, fixed service, c channels, FIFO: each message waits what the
    SimPy gateway (simulation/gateway.py) says it waits, up to the event loop's jitter."""
    import numpy as np
    import simpy

    from simulation.gateway import Gateway as ModelGateway

    cfg = config(channels=2, service=0.1)
    gaps = np.random.default_rng(3).exponential(1 / 15, 45)  # load 15 x 0.1 / 2 = 0.75
    intended = np.cumsum(gaps).tolist()
    gateway = FakeGateway(cfg)

    async def play():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i, t in enumerate(intended):
            await asyncio.sleep(max(0.0, t0 + t - loop.time()))
            gateway.submit(f"+8190{10000000 + i}", "code 123456")
        await asyncio.sleep(1.5)

    asyncio.run(play())
    queued = np.array([m[0] for m in gateway.state.messages])
    measured = np.array([m[1] - m[0] for m in gateway.state.messages])

    env = simpy.Environment()
    model = ModelGateway(env, cfg, np.random.default_rng(0))
    arrivals = (queued - queued[0]).tolist()  # the instants the gateway really saw

    def feed():
        for t in arrivals:
            yield env.timeout(t - env.now)
            model.submit("+819000000000", "123456")

    env.process(feed())
    env.run()
    submitted, started, _ = model.arrays()
    predicted = started - submitted

    assert len(measured) == len(predicted) == 45
    assert predicted.mean() > 0.02  # a real queue, not an idle gateway
    assert np.abs(measured - predicted).max() < 0.08
    assert abs(measured.mean() - predicted.mean()) < 0.03

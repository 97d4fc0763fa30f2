"""The gateway alone, reduced to textbook queues and checked against closed forms.

Poisson arrivals into the gateway with exponential service are an M/M/c queue: its mean
wait before service is Erlang C's Wq = C(c, a) / (cμ − λ). The closed forms are written
here, not imported, so the model is checked against an independent computation.
Sample sizes follow the heavy-traffic variance of the mean wait, about
4ρ² / ((1 − ρ)² N) relative: N is picked so the 5 % band spans at least two standard
errors (four below ρ = 0.95); seeds are fixed so the suite is repeatable.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import simpy

from simulation.durations import Duration, stream
from simulation.gateway import Gateway, Handset
from simulation.kpis import occupancy
from simulation.scenario import Busy, GatewayConfig


def erlang_c_wait(lam: float, mu: float, c: int) -> float:
    """Wq of M/M/c: C(c, a) / (cμ − λ), with C from the Erlang B recursion (stable)."""
    a = lam / mu
    if a >= c:
        raise ValueError("unstable queue")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    prob_wait = c * b / (c - a * (1 - b))
    return prob_wait / (c * mu - lam)


def erlang_c_direct(lam: float, mu: float, c: int) -> float:
    """The same Wq from the textbook sum, to check the recursion above."""
    a, rho = lam / mu, lam / (c * mu)
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / (math.factorial(c) * (1 - rho))
    return tail / (head + tail) / (c * mu - lam)


def run_gateway(config: GatewayConfig, lam: float, n: int, seed: int, handsets=None):
    """Feed ``n`` Poisson arrivals at rate ``lam`` to a gateway; return it and the end time."""
    env = simpy.Environment()
    service_rng, arrival_rng = map(np.random.default_rng, np.random.SeedSequence(seed).spawn(2))
    gateway = Gateway(env, config, service_rng, handsets)
    gaps = itertools.islice(stream(lambda size: arrival_rng.exponential(1 / lam, size)), n)

    def arrivals():
        for gap in gaps:
            yield env.timeout(gap)
            gateway.submit("+819012345678", "123456")

    env.process(arrivals())
    env.run()
    return gateway, env.now


def mmc(c: int, mean_service: float = 1.0) -> GatewayConfig:
    return GatewayConfig(c, Duration.exponential(mean_service), None, 0.0, 0.0)


def test_erlang_c_forms_agree():
    for lam, c in ((9, 10), (80, 100), (0.5, 1), (1.9, 2)):
        assert erlang_c_wait(lam, 1, c) == pytest.approx(erlang_c_direct(lam, 1, c), rel=1e-9)
    assert erlang_c_wait(9, 1, 10) == pytest.approx(0.669, abs=5e-4)  # the worked check
    assert erlang_c_wait(0.5, 1, 1) == pytest.approx(1.0)  # M/M/1: ρ / (μ − λ)


@pytest.mark.parametrize(
    ("rho", "channels", "customers", "seed"),
    [
        # Relative standard errors measured over 12 seeds: 0.8 %, 1.2 %, 2.2 %.
        (0.5, 2, 400_000, 1),
        (0.8, 2, 1_000_000, 2),
        # About 20 s: heavy traffic needs N ≈ 1400 / ε² customers for a relative standard
        # error ε at ρ = 0.95.
        pytest.param(0.95, 2, 3_000_000, 3, marks=pytest.mark.slow),
    ],
)
def test_mean_wait_matches_erlang_c(rho, channels, customers, seed):
    """M/M/c: the simulated mean wait is within 5 % of Erlang C's Wq."""
    lam = rho * channels
    gateway, _ = run_gateway(mmc(channels), lam, customers, seed)
    submitted, started, _ = gateway.arrays()
    waits = (started - submitted)[customers // 50 :]  # drop the empty-start transient
    expected = erlang_c_wait(lam, 1.0, channels)
    print(
        f"M/M/{channels} ρ={rho}: simulated Wq {waits.mean():.4f}, Erlang C {expected:.4f}, "
        f"ratio {waits.mean() / expected:.4f} ({waits.size:,} waits)"
    )
    assert waits.mean() == pytest.approx(expected, rel=0.05)


def test_littles_law_and_utilisation():
    """Lq = λ·Wq and mean busy channels = λ·E[S], time averages against per-message means."""
    lam, c = 4.0, 5
    gateway, _ = run_gateway(mmc(c), lam, 200_000, seed=4)
    submitted, started, ended = gateway.arrays()
    horizon = float(submitted.max())
    inside = submitted < horizon
    window = np.array([0.0, horizon])
    lq = occupancy(submitted, started, window)[0] / horizon
    rate = inside.sum() / horizon
    wq = (started - submitted)[inside].mean()
    print(f"Little: Lq {lq:.4f} vs λ·Wq {rate * wq:.4f}; utilisation {busy_share(gateway, c):.4f}")
    assert lq == pytest.approx(rate * wq, rel=0.02)
    busy = occupancy(started, ended, window)[0] / horizon
    assert busy == pytest.approx(rate * (ended - started)[inside].mean(), rel=0.02)
    assert busy / c == pytest.approx(lam / c, rel=0.02)  # utilisation ρ = λ / (cμ)


def busy_share(gateway: Gateway, c: int) -> float:
    submitted, started, ended = gateway.arrays()
    horizon = float(submitted.max())
    return occupancy(started, ended, np.array([0.0, horizon]))[0] / horizon / c


def test_infinite_channels_never_queue():
    gateway, _ = run_gateway(mmc(10**9), 50.0, 20_000, seed=5)
    submitted, started, _ = gateway.arrays()
    assert gateway.sent == 20_000 == submitted.size
    assert np.all(started == submitted)


def test_single_channel_is_fifo():
    gateway, _ = run_gateway(mmc(1), 0.9, 5_000, seed=6)
    submitted, started, ended = gateway.arrays()
    assert np.all(np.diff(submitted) >= 0)  # logged in start order = arrival order
    assert np.all(started[1:] >= ended[:-1] - 1e-9)  # one at a time


def test_busy_windows_slow_service_that_starts_inside():
    """Windows [k·every_s, k·every_s + length_s) for k ≥ 1 multiply the service time."""
    busy = Busy(every_s=100.0, length_s=20.0, slowdown=5.0)
    config = GatewayConfig(10**9, Duration.fixed(1.0), busy, 0.0, 0.0)
    env = simpy.Environment()
    gateway = Gateway(env, config, np.random.default_rng(0))
    starts = [5.0, 99.9, 100.0, 119.9, 120.0, 250.0, 305.0]

    def feed():
        for t in starts:
            yield env.timeout(t - env.now)
            gateway.submit("+819012345678", "1")

    env.process(feed())
    env.run()
    _, started, ended = gateway.arrays()
    assert (ended - started).tolist() == pytest.approx([1, 1, 5, 5, 1, 1, 5])


def test_lost_messages_hold_a_channel_and_never_arrive():
    handset = Handset()
    config = GatewayConfig(3, Duration.exponential(1.0), None, 1.0, 0.05)
    gateway, _ = run_gateway(config, 2.0, 2_000, seed=7, handsets={"+819012345678": handset})
    submitted, started, _ = gateway.arrays()
    assert gateway.lost == 2_000 and gateway.delivered == 0 and handset.received == 0
    assert (started - submitted).mean() > 0  # they queued like any other message
    assert gateway.cost() == pytest.approx(100.0)


def test_delivery_reaches_the_handset_unless_it_blocks_sms():
    open_phone, blocked = Handset(), Handset(blocked=True)
    config = GatewayConfig(2, Duration.fixed(3.0), None, 0.0, 0.0)
    env = simpy.Environment()
    gateway = Gateway(env, config, np.random.default_rng(0), {"+1": open_phone, "+2": blocked})
    gateway.submit("+1", "111111")
    gateway.submit("+2", "222222")
    env.run()
    assert (open_phone.code, open_phone.received) == ("111111", 1)
    assert (blocked.code, blocked.received) == (None, 0)
    assert env.now == 3.0

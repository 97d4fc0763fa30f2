"""The capacity search: step verdicts, the controller against deployments of known
capacity, a saturated load generator, and the report's contents (no processes here;
``test_loadtest.py`` runs ``--find-capacity`` for real)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from loadtests import capacity_report
from loadtests.capacity import (
    ERRORS,
    GENERATOR,
    HOLDS,
    OUTBOX,
    SLO,
    Finding,
    Limits,
    Search,
    Step,
    bracket,
    judge,
    server_endpoints,
)
from loadtests.capacity_run import CapacityOptions, CapacityRun, _validate, mean_rate, step_scenario
from loadtests.locustcsv import Endpoint
from simulation.scenario import load
from verifier.errors import ConfigError

SMALL = Path(__file__).with_name("small.toml")
LIMITS = Limits(slo_p99_ms=250.0, max_error_rate=0.01)


def endpoint(name: str, p99: float, requests: int = 100) -> Endpoint:
    return Endpoint(name, requests, 0, requests / 10.0, p99 / 4, p99 / 2, p99, p99 * 1.5)


def step(rate: float, p99: float = 10.0, **changes) -> Step:
    fields = {
        "index": 1,
        "rate": rate,
        "seconds": 10.0,
        "buyers": int(rate * 10),
        "overflow": 0,
        "lag_p99_s": 0.01,
        "generator_cpu_warning": False,
        "endpoints": [endpoint("POST /v1/verifications", p99)],
        "errors": 0,
        "server_cpu": 0.5,
        "generator_cpu": 0.2,
    }
    return Step(**{**fields, **changes})


class Queue:
    """A stub deployment: one M/M/1 server of ``mu`` requests/s, two requests a checkout.

    Its p99 response time at ``rate`` checkouts/s is ln(100) / (mu - 2·rate), so the
    highest rate within the SLO is known in closed form.
    """

    def __init__(self, mu: float, generator_max: float = math.inf) -> None:
        self.mu, self.generator_max = mu, generator_max

    def p99_ms(self, rate: float) -> float:
        spare = self.mu - 2 * rate
        return math.inf if spare <= 0 else 1000 * math.log(100) / spare

    def capacity(self, slo_ms: float) -> float:
        return (self.mu - 1000 * math.log(100) / slo_ms) / 2

    def measure(self, rate: float) -> Step:
        overflow = 5 if rate > self.generator_max else 0
        s = step(rate, p99=min(self.p99_ms(rate), 1e7), overflow=overflow)
        verdict, why = judge(s, LIMITS)
        return Step(**{**s.__dict__, "verdict": verdict, "why": why})


def search(deployment: Queue, controller: Search) -> Finding:
    finding = Finding()
    while (rate := controller.next_rate(finding.tried)) is not None:
        finding.steps.append(deployment.measure(rate))
    return finding


@pytest.mark.parametrize("mu", [40.0, 150.0, 1000.0, 5000.0])
def test_a_deployment_of_known_capacity_is_found_within_one_step(mu):
    queue, controller = Queue(mu), Search(start=1.0, steps=20, resolution=1.25)
    finding = search(queue, controller)
    true = queue.capacity(LIMITS.slo_p99_ms)
    low, high = bracket(finding.tried)
    assert low is not None and high is not None
    assert low <= true < high  # the answer brackets the truth...
    assert high / low <= controller.resolution  # ...within one step of the resolution
    assert finding.capacity.rate == low
    assert finding.first_broken.verdict == SLO and finding.first_broken.rate == high


def test_the_search_stops_at_its_step_budget_with_the_best_bracket_so_far():
    finding = search(Queue(5000.0), Search(start=1.0, steps=4))
    assert len(finding.steps) == 4
    assert [s.rate for s in finding.steps] == [1.0, 2.0, 4.0, 8.0]
    assert "every step held" in finding.limit(2, 1)


def test_a_saturated_load_generator_is_reported_as_such_never_as_the_servers_limit():
    queue = Queue(1000.0, generator_max=20.0)  # the server would hold about 490/s
    finding = search(queue, Search(start=5.0, steps=20))
    assert [(s.rate, s.verdict) for s in finding.steps] == [
        (5.0, HOLDS),
        (10.0, HOLDS),
        (20.0, HOLDS),
        (40.0, GENERATOR),  # and no step after it
    ]
    assert finding.capacity.rate == 20.0  # a lower bound: the last rate that held
    assert finding.first_broken is None
    said = finding.limit(2, 1)
    assert said.startswith("the load generator") and "above the last rate that held" in said


def test_verdicts_name_what_broke():
    assert judge(step(5.0), LIMITS) == (HOLDS, "")
    assert judge(step(5.0, overflow=3), LIMITS)[0] == GENERATOR
    assert judge(step(5.0, generator_cpu_warning=True), LIMITS)[0] == GENERATOR
    late = judge(step(5.0, lag_p99_s=2.5), LIMITS)
    assert late[0] == GENERATOR and "2.50 s late" in late[1]
    broke = judge(step(5.0, p99=300.0), LIMITS)
    assert broke == (SLO, "POST /v1/verifications p99 300 ms (SLO 250 ms)")
    failing = judge(step(5.0, errors=2), LIMITS)  # 2 of 100 requests
    assert failing[0] == ERRORS and "2.0% of the server's requests failed" in failing[1]
    assert judge(step(5.0, errors=1), LIMITS)[0] == HOLDS  # 1 % is within the limit
    assert judge(step(5.0, endpoints=[]), LIMITS)[0] == ERRORS
    # SMS dispatch: fast answers while codes queue unsent is not holding
    behind = judge(step(20.0, outbox_start=10, outbox_end=300), LIMITS)
    assert behind[0] == OUTBOX and "grew by 290 SMS" in behind[1] and "14.5 s" in behind[1]
    assert judge(step(20.0, outbox_start=300, outbox_end=40), LIMITS)[0] == HOLDS  # draining
    assert judge(step(20.0, outbox_start=0, outbox_end=100), LIMITS)[0] == HOLDS  # 5 s: at it
    # the generator's own trouble comes first: it makes the server's numbers meaningless
    assert judge(step(5.0, p99=900.0, overflow=1), LIMITS)[0] == GENERATOR


def test_the_slo_is_about_the_servers_endpoints_not_the_gateways_long_polls():
    rows = [
        endpoint("POST /v1/verifications", 12.0),
        endpoint("GET /inbox/{e164} (gateway)", 9000.0),
        endpoint("Aggregated", 9000.0),
    ]
    assert [e.name for e in server_endpoints(rows)] == ["POST /v1/verifications"]


def test_a_rate_that_held_above_one_that_broke_does_not_count():
    tried = [(2.0, HOLDS), (4.0, HOLDS), (8.0, SLO), (5.7, HOLDS), (16.0, HOLDS)]
    assert bracket(tried) == (5.7, 8.0)
    assert bracket([(2.0, SLO)]) == (None, 2.0)
    assert Search(start=2.0).next_rate([(2.0, SLO)]) == 1.0  # downwards when nothing held
    assert Search(start=0.08).next_rate([(0.08, SLO)]) is None  # below the floor: give up


def test_which_resource_ran_out():
    def finding(cpu: float, gen: float) -> Finding:
        return Finding(
            [
                step(10.0, verdict=HOLDS),
                step(20.0, p99=400.0, server_cpu=cpu, generator_cpu=gen, verdict=SLO, why="x"),
            ]
        )

    assert finding(0.95, 0.3).limit(2, 1).startswith("server CPU")
    assert finding(1.1, 0.7).limit(2, 2).startswith("the machine's 2 cores")
    assert finding(0.3, 0.2).limit(2, 1).startswith("not CPU")
    behind = Finding([step(10.0, verdict=HOLDS), step(20.0, verdict=OUTBOX, why="grew")])
    assert behind.limit(2, 1).startswith("SMS dispatch")


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"start": 0.0}, "start-rate"),
        ({"growth": 1.0}, "growth"),
        ({"resolution": 3.0}, "resolution"),
        ({"steps": 0}, "steps"),
    ],
)
def test_a_bad_search_names_its_key(changes, key):
    with pytest.raises(ConfigError) as err:
        Search(**changes)
    assert err.value.key == key


def test_bad_limits_and_options_name_their_key():
    with pytest.raises(ConfigError) as err:
        Limits(slo_p99_ms=0)
    assert err.value.key == "slo-p99-ms"
    with pytest.raises(ConfigError) as err:
        Limits(max_error_rate=1.5)
    assert err.value.key == "max-error-rate"
    with pytest.raises(ConfigError) as err:
        _validate(CapacityOptions(str(SMALL), duration="20s", steps=4))
    assert err.value.key == "duration" and "leaves 0 s of load a step" in str(err.value)
    assert _validate(CapacityOptions(str(SMALL), duration="36s", steps=2)) == 12.0
    with pytest.raises(ConfigError) as err:
        _validate(CapacityOptions(str(SMALL), store="memory://", server_workers=2))
    assert err.value.key == "store"
    with pytest.raises(ConfigError) as err:
        _validate(CapacityOptions(str(SMALL), server_workers=0))
    assert err.value.key == "server-workers"


def test_a_step_plays_a_flat_rate_with_the_scenarios_attackers_in_proportion():
    small = load(SMALL)
    mean = mean_rate(small)
    assert mean == pytest.approx(2.0 * (20 + 60 + 20) / 60)  # the 3x burst from 20 s to 40 s
    played = step_scenario(small, 10.0, 30.0)
    assert played.duration_s == 30.0 and played.arrivals.rate_per_s == 10.0
    assert [list(p) for p in played.arrivals.profile] == [[0.0, 1.0]]
    assert played.gateway.busy is None
    ratio = 10.0 / mean
    assert played.fraud.bruteforce_rate_per_s == pytest.approx(2.0 * ratio)
    assert played.fraud.pumping_rate_per_s == pytest.approx(1.0 * ratio)
    assert played.fraud.enumeration_rate_per_s == pytest.approx(0.5 * ratio)


def test_the_report_gives_the_answer_every_step_and_the_knee(tmp_path):
    steps = [
        step(2.0, p99=8.0, index=1, verdict=HOLDS),
        step(4.0, p99=15.0, index=2, verdict=HOLDS),
        step(8.0, p99=400.0, index=3, verdict=SLO, why="POST /v1/verifications p99 400 ms"),
        step(5.66, p99=60.0, index=4, verdict=HOLDS),
    ]
    run = CapacityRun(
        load(SMALL),
        CapacityOptions(str(SMALL), out=tmp_path),
        LIMITS,
        Search(start=2.0),
        30.0,
        "SQLite",
        Finding(steps),
        cores=2,
        peak=2.0,
    )
    md_path, html_path = capacity_report.write(tmp_path, run)
    md = md_path.read_text("utf-8")
    assert "held **5.66 checkouts/s**" in md
    assert "At 8 checkouts/s it broke: POST /v1/verifications p99 400 ms." in md
    assert "What ran out: not CPU" in md
    assert "Measured with `smsverify loadtest --scenario …/small.toml --find-capacity" in md
    assert "small's own peak is 2 checkouts/s: this deployment holds 2.83× that." in md
    rows = [line for line in md.splitlines() if line.startswith("| ") and " held |" in line]
    assert len(rows) == 3
    assert "| 3 | 8 |" in md and "SLO broken" in md
    assert (tmp_path / capacity_report.PLOT).stat().st_size > 10_000
    html = html_path.read_text("utf-8")
    assert "<table" in html and capacity_report.PLOT in html
    assert str(tmp_path) not in md and str(tmp_path) not in html
    assert str(SMALL.parent) not in md and str(SMALL.parent) not in html


def test_the_command_and_the_deployment_name_the_outbox_threads_when_set(monkeypatch):
    from loadtests.capacity_run import command, deployment

    options = CapacityOptions(str(SMALL), store="sqlite:///data/server.db")
    run = CapacityRun(load(SMALL), options, LIMITS, Search(), 30.0, "SQLite (a file)")
    monkeypatch.delenv("SMSVERIFY_OUTBOX_CONCURRENCY", raising=False)
    assert command(options).startswith("smsverify loadtest --scenario …/small.toml")
    assert "--store sqlite:///…/server.db" in command(options)
    assert deployment(run) == "SQLite, 1 server worker, API v1"
    monkeypatch.setenv("SMSVERIFY_OUTBOX_CONCURRENCY", "16")
    assert command(options).startswith("SMSVERIFY_OUTBOX_CONCURRENCY=16 smsverify loadtest")
    assert deployment(run) == "SQLite, 1 server worker, 16 outbox threads, API v1"

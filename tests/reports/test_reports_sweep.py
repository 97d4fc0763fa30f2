"""Sweeps: one task per replication, finished points saved, nothing run twice."""

from __future__ import annotations

import json

import pytest

from reports import sweep
from reports.grid import build
from reports.sweep import Point, run_points
from simulation.scenario import Scenario

SCENARIO = Scenario.from_dict(
    {"name": "mini", "duration_s": 120, "arrivals": {"rate_per_s": 0.5}}
).to_dict()


def points(n: int, replications: int = 2) -> list[Point]:
    return [
        Point(SCENARIO, build({"code.ttl_s": 60.0 + i}).to_dict(), replications) for i in range(n)
    ]


class Counting:
    """A stand-in for ``run_task`` that counts calls and can fail on the k-th."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[tuple[float, int]] = []
        self.fail_at = fail_at

    def __call__(self, scenario, policy, replications, index):
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise KeyboardInterrupt
        self.calls.append((policy["code"]["ttl_s"], index))
        return {
            "index": index,
            "metrics": {"ttl": policy["code"]["ttl_s"]},
            "extras": {},
            "series": {},
        }


@pytest.fixture
def counting(monkeypatch):
    def install(fail_at=None):
        task = Counting(fail_at)
        monkeypatch.setattr(sweep, "run_task", task)
        return task

    return install


def test_keys_depend_on_scenario_policy_seed_and_replications():
    a, b = points(2)
    assert a.key != b.key
    assert a.key == Point(a.scenario, a.policy, 2).key
    assert a.key != Point(a.scenario, a.policy, 3).key
    reseeded = {**a.scenario, "seed": 2}
    assert a.key != Point(reseeded, a.policy, 2).key


def test_finished_points_are_saved_and_never_run_again(tmp_path, counting):
    task = counting()
    records, stats = run_points(points(3), tmp_path, executor="inline", progress=False)
    assert len(task.calls) == 6 and stats.points_run == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{p.key}.json" for p in points(3))
    saved = json.loads((tmp_path / f"{points(3)[0].key}.json").read_text())
    assert [r["index"] for r in saved["runs"]] == [0, 1]

    task = counting()
    again, stats = run_points(points(3), tmp_path, executor="inline", progress=False)
    assert task.calls == [] and stats.replications_cached == 6
    assert again == records


def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path, counting):
    counting(fail_at=3)
    with pytest.raises(KeyboardInterrupt):
        run_points(points(3), tmp_path, executor="inline", progress=False)
    # Three replications finished before the interruption: they are on disk.
    assert len(list(tmp_path.glob("*.json"))) >= 2
    task = counting()
    records, stats = run_points(points(3), tmp_path, executor="inline", progress=False)
    assert len(task.calls) == 3 and stats.replications_cached == 3
    assert len(records) == 3
    assert not list(tmp_path.glob("*.r*.json"))  # partial files are folded into points


def test_local_processes_run_the_real_model_like_the_calling_process(tmp_path):
    """Same seeds, same numbers: where a replication runs does not change it."""
    pts = points(1)
    local, _ = run_points(pts, tmp_path / "a", executor="local", workers=2, progress=False)
    inline, _ = run_points(pts, tmp_path / "b", executor="inline", progress=False)
    strip = [
        {k: v for k, v in r["metrics"].items() if k != "wall_s"} for r in local[pts[0].key]["runs"]
    ]
    assert strip == [
        {k: v for k, v in r["metrics"].items() if k != "wall_s"} for r in inline[pts[0].key]["runs"]
    ]
    assert strip[0]["checkouts"] > 0


def test_unknown_executors_are_refused(tmp_path):
    from verifier.errors import ConfigError

    with pytest.raises(ConfigError, match="executor"):
        run_points(points(1), tmp_path, executor="spark://x", progress=False)

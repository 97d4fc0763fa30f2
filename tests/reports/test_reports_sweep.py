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


def test_keys_depend_on_scenario_policy_and_seed_but_not_replications():
    a, b = points(2)
    assert a.key != b.key
    assert a.key == Point(a.scenario, a.policy, 2).key
    assert a.key == Point(a.scenario, a.policy, 3).key
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


def test_a_point_grows_by_running_only_its_new_replications(tmp_path, counting):
    task = counting()
    run_points(points(2, replications=2), tmp_path, executor="inline", progress=False)
    assert len(task.calls) == 4
    task = counting()
    grown, stats = run_points(
        points(2, replications=5), tmp_path, executor="inline", progress=False
    )
    assert sorted(i for _, i in task.calls) == [2, 2, 3, 3, 4, 4]
    assert stats.replications_cached == 4
    assert [r["index"] for r in grown[points(1)[0].key]["runs"]] == [0, 1, 2, 3, 4]
    task = counting()
    fewer, _ = run_points(points(2, replications=3), tmp_path, executor="inline", progress=False)
    assert task.calls == []
    assert [r["index"] for r in fewer[points(1)[0].key]["runs"]] == [0, 1, 2]
    assert not list(tmp_path.glob("*.r*.json"))


def test_replication_i_is_the_same_whatever_the_count(tmp_path):
    """Growing a point from 1 to 2 replications gives the numbers a 2-replication run has."""
    one = points(1, replications=1)
    run_points(one, tmp_path / "grown", executor="inline", progress=False)
    grown, _ = run_points(points(1), tmp_path / "grown", executor="inline", progress=False)
    fresh, _ = run_points(points(1), tmp_path / "fresh", executor="inline", progress=False)
    key = one[0].key

    def strip(records):
        return [
            {k: v for k, v in r["metrics"].items() if k != "wall_s"} for r in records[key]["runs"]
        ]

    assert strip(grown) == strip(fresh)

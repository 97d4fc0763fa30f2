"""The same sweep on a dask.distributed cluster (a LocalCluster on 127.0.0.1)."""

from __future__ import annotations

import pytest

from reports.grid import build
from reports.sweep import Point, run_points
from simulation.scenario import Scenario

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (the 'dask' extra)"
)


def test_a_local_cluster_runs_points_with_the_same_numbers_as_here(tmp_path):
    scenario = Scenario.from_dict(
        {"name": "mini", "duration_s": 120, "arrivals": {"rate_per_s": 0.5}}
    ).to_dict()
    pts = [Point(scenario, build({"check.max_attempts": n}).to_dict(), 2) for n in (3, 5)]
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        address = cluster.scheduler_address.removeprefix("tcp://")
        remote, stats = run_points(
            pts, tmp_path / "dask", executor=f"dask://{address}", progress=False
        )
    assert stats.executor.startswith("Dask cluster at dask://127.0.0.1:")
    here, _ = run_points(pts, tmp_path / "here", executor="inline", progress=False)
    for point in pts:
        got = [
            {k: v for k, v in r["metrics"].items() if k != "wall_s"}
            for r in remote[point.key]["runs"]
        ]
        want = [
            {k: v for k, v in r["metrics"].items() if k != "wall_s"}
            for r in here[point.key]["runs"]
        ]
        assert got == want

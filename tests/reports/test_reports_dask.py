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


def _without_wall_time(path):
    """results.csv with the model's own wall-time column dropped (it measures the host)."""
    import pandas as pd

    frame = pd.read_csv(path)
    return frame.drop(columns=[c for c in frame.columns if c.startswith("wall_s")])


def test_a_sweep_on_several_workers_writes_the_results_csv_of_a_local_run(tmp_path, tiny_scenarios):
    """``smsverify tune`` on a LocalCluster of 3 worker processes: the same results.csv."""
    from smsverify.cli import main

    def argv(out, executor):
        args = ["tune", "--out", str(out), "--executor", executor, "--no-progress"]
        args += ["--grid", "check.max_attempts=3,5", "--no-studies"]
        args += ["--first-stage", "3", "--max-replications", "5"]
        for path in tiny_scenarios:
            args += ["--scenario", str(path)]
        return args

    with distributed.LocalCluster(
        n_workers=3,
        threads_per_worker=1,
        processes=True,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        with distributed.Client(cluster) as client:
            assert len(client.scheduler_info()["workers"]) == 3
        address = cluster.scheduler_address.removeprefix("tcp://")
        assert main(argv(tmp_path / "dask", f"dask://{address}")) == 0
    assert main(argv(tmp_path / "local", "local")) == 0
    remote = _without_wall_time(tmp_path / "dask" / "results.csv")
    local = _without_wall_time(tmp_path / "local" / "results.csv")
    assert len(remote) > 4
    pd_testing = pytest.importorskip("pandas.testing")
    pd_testing.assert_frame_equal(remote, local, check_exact=True)
    text = (tmp_path / "dask" / "index.html").read_text("utf-8")
    assert "Dask cluster at dask://127.0.0.1:" in text

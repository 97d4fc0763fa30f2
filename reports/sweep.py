"""Running policy points through the model, in parallel, resumably.

A *point* is one scenario under one policy with a seed and a number of replications.
Its work is one task per replication (``run_task``), submitted to a
``concurrent.futures`` executor: local processes by default, a ``dask.distributed``
cluster for ``dask://host:port``, or the calling process for ``inline`` (debugging).
Every point of a sweep uses the scenario's own seed and the same replication count,
so replication *i* of every policy sees the same random draws (common random numbers).

Replication *i* of a point does not depend on how many replications the point has
(its seed is child *i* of the scenario's seed sequence), so a point can grow: the
sequential procedure (``selection.py``) asks for 5 replications of a policy, then 7,
then 9, and only the new ones run.

Each finished point is written to ``DIR/points/<key>.json``, where the key hashes the
scenario, the policy, the seed and the model's source (not the replication count); it
holds the replications run so far, and a point asking for fewer gets the first ones.
Each finished replication of an unfinished point is kept beside it until its point
completes. Run the same sweep again after an interruption and only the missing
replications run.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import hashlib
import json
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from verifier.errors import ConfigError

SERIES_COLUMNS = (
    "minute",
    "arrivals",
    "sms_per_s",
    "verified",
    "locked",
    "gateway_queue_mean",
    "gateway_wait_mean_s",
    # Per-endpoint calls, when the model's per-minute table carries them.
    "starts",
    "resends",
    "checks",
)


@dataclass(frozen=True)
class Point:
    """One scenario under one policy, as plain dicts so it travels to any worker."""

    scenario: dict
    policy: dict
    replications: int

    @property
    def key(self) -> str:
        """Hash of scenario, policy, seed and the model's source (not the replication count)."""
        text = json.dumps(
            {
                "scenario": self.scenario,
                "policy": self.policy,
                "seed": self.scenario.get("seed"),
                "model": fingerprint(),
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.cache
def fingerprint() -> str:
    """A hash of the engine's and the model's source, so a changed model is never resumed."""
    import simulation
    import verifier

    digest = hashlib.sha256()
    for package in (verifier, simulation):
        # __path__, not __file__: an editable install may import a package as a namespace.
        root = next(Path(p) for p in package.__path__ if Path(p).is_dir())
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".toml") and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def run_task(scenario: dict, policy: dict, replications: int, index: int) -> dict:
    """Replication ``index`` of a point through ``simulation.run``; plain JSON-able output."""
    from simulation.kpis import json_safe
    from simulation.run import run_replication
    from simulation.scenario import Scenario
    from verifier.policy import Policy

    rep = run_replication(
        Scenario.from_dict(scenario), Policy.from_dict(policy), replications, index
    )
    series = rep.timeseries
    cols = [c for c in SERIES_COLUMNS if c in series.columns]
    frame = rep.verifications
    extras = {}
    # Calls per actor, for the capacity section's requests per endpoint.
    for actor, group in frame.groupby("actor"):
        extras[f"{actor}_sessions"] = len(group)
        extras[f"{actor}_checks"] = int(group["checks"].sum())
        extras[f"{actor}_sends"] = int(group["sends"].sum())
    return json_safe(
        {
            "index": index,
            "metrics": rep.metrics,
            "extras": extras,
            "series": {c: series[c].tolist() for c in cols},
        }
    )


class InlineExecutor(cf.Executor):
    """Runs each task in the calling process when submitted (``--executor inline``).

    An interruption (``KeyboardInterrupt``) is not caught: it stops the sweep at once,
    as it would in the parent of a process pool.
    """

    def submit(self, fn, /, *args, **kwargs):
        future: cf.Future = cf.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # handed to the caller through the future, as a pool does
            future.set_exception(exc)
        return future


def _completed(pool: cf.Executor, todo: list[tuple[Point, int]]):
    """``(point, index, future)`` as tasks finish; inline tasks run one at a time."""
    if isinstance(pool, InlineExecutor):
        for point, index in todo:
            future = pool.submit(run_task, point.scenario, point.policy, point.replications, index)
            yield point, index, future
        return
    futures = {
        pool.submit(run_task, p.scenario, p.policy, p.replications, i): (p, i) for p, i in todo
    }
    try:
        for future in cf.as_completed(futures):
            point, index = futures[future]
            yield point, index, future
    except BaseException:
        for future in futures:
            future.cancel()
        raise


@contextmanager
def open_executor(spec: str, workers: int | None = None) -> Iterator[tuple[cf.Executor, str]]:
    """The executor named by ``spec`` and a description of it.

    ``local`` (processes, one per core unless ``workers``), ``inline``, or
    ``dask://HOST:PORT`` (the scheduler of a running ``dask.distributed`` cluster).
    """
    if spec == "local":
        n = workers or os.cpu_count() or 1
        # forkserver, not fork: the parent runs the progress bar's thread, and forking a
        # threaded process is unsafe; workers import the model once and stay up.
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else None)
        with cf.ProcessPoolExecutor(max_workers=n, mp_context=context) as pool:
            yield pool, f"{n} local processes"
    elif spec == "inline":
        yield InlineExecutor(), "the calling process"
    elif spec.startswith("dask://"):
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError(
                "executor", "dask.distributed is not installed (pip install 'smsverify[dask]')"
            ) from None
        address = "tcp://" + spec.removeprefix("dask://")
        try:
            client = Client(address, timeout="10s")
        except OSError as exc:
            raise ConfigError(
                "executor", f"cannot reach the Dask scheduler at {spec}: {exc}"
            ) from None
        try:
            n = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
            yield client.get_executor(pure=False), f"Dask cluster at {spec} ({n} threads)"
        finally:
            client.close()
    else:
        raise ConfigError("executor", f"expected local, inline or dask://HOST:PORT, got {spec!r}")


def _write_json(path: Path, data: dict) -> None:
    """Write atomically, so an interruption never leaves half a file to resume from."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")), "utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None


@dataclass
class SweepStats:
    """What a sweep did: points and replications run now, found on disk, and wall time."""

    points: int = 0
    points_run: int = 0
    replications_run: int = 0
    replications_cached: int = 0
    wall_s: float = 0.0
    executor: str = ""


def run_points(
    points: Iterable[Point],
    folder: Path,
    executor: str | tuple[cf.Executor, str] = "local",
    workers: int | None = None,
    progress: Callable[[int, int], None] | bool = True,
) -> tuple[dict[str, dict], SweepStats]:
    """Run every replication not already in ``folder``; return ``{key: record}`` and stats.

    A record holds ``key``, ``scenario``, ``policy``, ``replications`` and ``runs``
    (per-replication ``metrics``, ``extras`` and ``series``, by replication index).
    ``executor`` is a spec for ``open_executor`` or an executor already open with its
    description (so a sequential procedure's rounds share one pool). Two points with one
    key (the same run asked for twice) are run once, to the larger replication count.
    """
    start = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    unique: dict[str, Point] = {}
    for point in points:
        seen = unique.get(point.key)
        if seen is None or point.replications > seen.replications:
            unique[point.key] = point
    stats = SweepStats(points=len(unique))
    records: dict[str, dict] = {}
    saved: dict[str, list[dict]] = {}
    partial: dict[str, dict[int, dict]] = {}
    todo: list[tuple[Point, int]] = []
    for key, point in unique.items():
        done = _read_json(folder / f"{key}.json")
        runs = done["runs"] if done is not None else []
        saved[key] = runs
        if len(runs) >= point.replications:
            records[key] = _record(point, runs[: point.replications])
            stats.replications_cached += point.replications
            continue
        partial[key] = dict(enumerate(runs))
        stats.replications_cached += len(runs)
        for i in range(len(runs), point.replications):
            rep = _read_json(folder / f"{key}.r{i}.json")
            if rep is not None:
                partial[key][i] = rep
                stats.replications_cached += 1
            else:
                todo.append((point, i))
    for key in [k for k, got in partial.items() if len(got) == unique[k].replications]:
        records[key] = _finish(folder, unique[key], partial.pop(key), len(saved[key]))
        stats.points_run += 1
    if not todo:
        stats.wall_s = time.perf_counter() - start
        return records, stats
    # Long points first, so the last task to finish is a short one.
    todo.sort(key=lambda item: -_weight(item[0]))
    with (
        _opened(executor, workers) as (pool, described),
        _progress(progress, len(todo), described) as tick,
    ):
        stats.executor = described
        for point, index, future in _completed(pool, todo):
            rep = future.result()
            stats.replications_run += 1
            key = point.key
            got = partial[key]
            got[index] = rep
            if len(got) == point.replications:
                records[key] = _finish(folder, point, got, len(saved[key]))
                stats.points_run += 1
            else:
                _write_json(folder / f"{key}.r{index}.json", rep)
            tick()
    stats.wall_s = time.perf_counter() - start
    return records, stats


def _record(point: Point, runs: list[dict]) -> dict:
    return {
        "key": point.key,
        "scenario": point.scenario,
        "policy": point.policy,
        "replications": len(runs),
        "runs": runs,
    }


def _finish(folder: Path, point: Point, got: dict[int, dict], had: int) -> dict:
    """Save a completed point and fold its replication files into it."""
    record = _record(point, [got[i] for i in range(point.replications)])
    _write_json(folder / f"{point.key}.json", record)
    for i in range(had, point.replications):
        (folder / f"{point.key}.r{i}.json").unlink(missing_ok=True)
    return record


@contextmanager
def _opened(executor, workers):
    if isinstance(executor, tuple):
        yield executor
    else:
        with open_executor(executor, workers) as opened:
            yield opened


def _weight(point: Point) -> float:
    """Rough cost of a replication: expected arrivals."""
    s = point.scenario
    peak = max(m for _, m in s["arrivals"]["profile"])
    return s["duration_s"] * s["arrivals"]["rate_per_s"] * peak


@contextmanager
def _progress(progress, total: int, described: str):
    """A rich progress bar on stderr (or a caller's callback, or nothing)."""
    if callable(progress):
        count = [0]

        def tick() -> None:
            count[0] += 1
            progress(count[0], total)

        yield tick
        return
    if not progress:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("[bold]replications[/] on " + described),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with bar:
        task = bar.add_task("sweep", total=total)
        yield lambda: bar.advance(task)

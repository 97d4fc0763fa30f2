"""``smsverify tune``: sweep policies over scenarios, decide, and write the report.

``tune_command(args)`` is what ``smsverify tune`` runs. The options beyond the four the
``smsverify`` parser defines (``--scenario``, ``--grid``, ``--out``, ``--executor``) are
read with their defaults when absent, so ``smsverify tune`` with no options is exactly
``make report``; ``python -m reports --help`` lists them all (``add_arguments``).
This module imports nothing heavy at load time, so building parsers stays cheap.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

DEFAULT_FIRST_STAGE = 4
DEFAULT_MAX_REPLICATIONS = 10
DEFAULT_INDIFFERENCE = 50.0
DEFAULT_SCALE = 0.25
DEFAULTS = {
    "replications": None,
    "first_stage": DEFAULT_FIRST_STAGE,
    "max_replications": DEFAULT_MAX_REPLICATIONS,
    "indifference": DEFAULT_INDIFFERENCE,
    "step": 2,
    "scale": DEFAULT_SCALE,
    "workers": None,
    "order_value": 20.0,
    "fraud_loss_per_success": 500.0,
    "attacked_per_1k": 10.0,
    "max_guess_success": 1e-4,
    "jpy_per_unit": 150.0,
    "studies": True,
    "progress": True,
}


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Every ``tune`` option, for ``python -m reports`` (and for ``smsverify tune``)."""
    parser.add_argument(
        "--scenario",
        action="append",
        help="shipped name or TOML file; repeat for several (default: every shipped scenario)",
    )
    parser.add_argument(
        "--grid",
        nargs="*",
        default=[],
        help="key=v1,v2 ... ; list values with '/', e.g. send.resend_cooldown_s=30/60/120,15/30/60",
    )
    parser.add_argument("--out", default="reports/out/latest")
    parser.add_argument(
        "--points", help="where finished points are kept for resuming (default: OUT/points)"
    )
    parser.add_argument("--executor", default="local", help="local, inline or dask://HOST:PORT")
    parser.add_argument("--workers", type=int, help="local processes (default: one per core)")
    parser.add_argument(
        "--first-stage",
        type=int,
        default=DEFAULT_FIRST_STAGE,
        help="replications every policy gets before the sequential procedure (KN) starts "
        f"eliminating (default {DEFAULT_FIRST_STAGE}; the studies get this many)",
    )
    parser.add_argument(
        "--max-replications",
        type=int,
        default=DEFAULT_MAX_REPLICATIONS,
        help=f"cap on the replications of any policy (default {DEFAULT_MAX_REPLICATIONS})",
    )
    parser.add_argument(
        "--indifference",
        type=float,
        default=DEFAULT_INDIFFERENCE,
        help="indifference zone: expected cost per 1,000 checkouts (all scenarios) below "
        f"which two policies count as equally good (default {DEFAULT_INDIFFERENCE:g})",
    )
    parser.add_argument(
        "--replications",
        type=int,
        help="a fixed count for every point instead of the sequential procedure",
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=DEFAULT_SCALE,
        help="thin each scenario: arrival and fraud rates and gateway channels "
        f"times this (default {DEFAULT_SCALE}; 1 = as written)",
    )
    parser.add_argument(
        "--order-value",
        type=float,
        default=DEFAULTS["order_value"],
        help="money lost per buyer who ends unverified",
    )
    parser.add_argument(
        "--fraud-loss-per-success",
        type=float,
        default=DEFAULTS["fraud_loss_per_success"],
        help="money lost per number taken over by a guessed code",
    )
    parser.add_argument(
        "--attacked-per-1k",
        type=float,
        default=DEFAULTS["attacked_per_1k"],
        help="numbers attacked (for a day each) per 1,000 checkouts",
    )
    parser.add_argument(
        "--max-guess-success",
        type=float,
        default=DEFAULTS["max_guess_success"],
        help="hard limit on the guessing bound per number per day",
    )
    parser.add_argument(
        "--jpy-per-unit",
        type=float,
        default=DEFAULTS["jpy_per_unit"],
        help="yen per unit of the report's money (the SMS price's currency), for "
        "stolen-card payments (default 150)",
    )
    parser.add_argument(
        "--no-studies",
        dest="studies",
        action="store_false",
        help="skip the extra sweeps behind the TTL, storm and typo plots",
    )
    parser.add_argument(
        "--capacity",
        action="append",
        metavar="FILE",
        help="a capacity.json of `smsverify loadtest --find-capacity`, set against every "
        "scenario's peak in the planners' section; repeat for several deployments",
    )
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    return parser


def _opt(args: argparse.Namespace, name: str):
    value = getattr(args, name, None)
    return DEFAULTS[name] if value is None and name in DEFAULTS else value


def tune_command(args: argparse.Namespace) -> int:
    """Run the sweep, write ``DIR/{index.html, report.md, results.csv, ...}``, print the path."""
    from simulation.scenario import load, shipped
    from verifier.errors import ConfigError

    from .builder import RunInfo, build, write_tables
    from .decision import Weights
    from .grid import DEFAULT_GRID, parse_grid
    from .plan import effective_scale, main_items, scaled, study_items
    from .results import build_table, series_table
    from .sequential import run_sequential
    from .sweep import open_executor, run_points

    fixed = _opt(args, "replications")
    first = fixed if fixed is not None else _opt(args, "first_stage")
    cap = fixed if fixed is not None else _opt(args, "max_replications")
    for name, value in (("replications", fixed), ("first-stage", first)):
        if value is not None and (not isinstance(value, int) or value < 2):
            raise ConfigError(name, f"needs at least 2 for intervals, got {value}")
    if not isinstance(cap, int) or cap < first:
        raise ConfigError("max-replications", f"{cap} is below the first stage of {first}")
    delta = float(_opt(args, "indifference"))
    if not delta > 0:
        raise ConfigError("indifference", f"must be positive, got {delta:g}")
    scale = float(_opt(args, "scale"))
    if not 0 < scale <= 1:
        raise ConfigError("scale", f"{scale:g} is outside (0, 1]")
    weights = Weights(
        order_value=float(_opt(args, "order_value")),
        fraud_loss_per_success=float(_opt(args, "fraud_loss_per_success")),
        attacked_per_1k=float(_opt(args, "attacked_per_1k")),
        max_guess_success=float(_opt(args, "max_guess_success")),
        jpy_per_unit=float(_opt(args, "jpy_per_unit")),
    )
    for name, value in weights.as_dict().items():
        if value < 0 or (name == "jpy_per_unit" and not value > 0):
            need = "must be positive" if name == "jpy_per_unit" else "must not be negative"
            raise ConfigError(name.replace("_", "-"), f"{need}, got {value:g}")
    from . import deployments

    measured = [deployments.read(p).as_dict() for p in getattr(args, "capacity", None) or []]
    names = args.scenario or shipped()
    written = [load(name) for name in names]
    scales = {s.name: effective_scale(s, scale) for s in written}
    scenarios = [scaled(s, scale) for s in written]
    grid = parse_grid(args.grid) if args.grid else DEFAULT_GRID
    main = main_items(scenarios, grid, first, scales)
    studies = study_items(scenarios, first, scales) if _opt(args, "studies") else []

    out = Path(args.out)
    folder = Path(getattr(args, "points", None) or out / "points")
    started = time.perf_counter()
    try:
        with open_executor(args.executor, _opt(args, "workers")) as pool:
            main, race, stats = run_sequential(
                main,
                studies,
                folder,
                weights,
                pool,
                first=first,
                cap=cap,
                delta=delta,
                step=_opt(args, "step"),
                progress=_opt(args, "progress"),
            )
            stage, stage_race = _stepup_stage(
                scenarios,
                grid,
                main,
                folder,
                weights,
                pool,
                (first, cap, delta),
                scales,
                args,
                stats,
            )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: finished points are kept in {folder}; "
            "run the same command again to resume",
            file=sys.stderr,
        )
        return 130
    items = main + studies + stage
    records, _ = run_points([it.point for it in items], folder, "inline", progress=False)
    table = build_table(items, records, weights, scale)
    shutil.rmtree(out / "plots", ignore_errors=True)
    write_tables(table, series_table(items, records), out)
    info = RunInfo(
        scenarios=[s.name for s in scenarios],
        replications=first,
        scale=scale,
        grid=grid,
        weights=weights,
        executor=stats.executor or "results already on disk",
        wall_s=stats.wall_s,
        points=stats.points,
        replications_run=stats.replications_run,
        command=_command(args),
        selection=race,
        extra={
            **({"stepup_selection": stage_race} if stage_race else {}),
            **({"deployments": measured} if measured else {}),
        },
    )
    context = build(out, info)
    wall = time.perf_counter() - started
    rate = stats.points / stats.wall_s if stats.wall_s else 0.0
    print(
        f"{stats.points} points ({stats.replications_run} replications run, "
        f"{stats.replications_cached} found on disk) in {stats.wall_s:.1f} s "
        f"({rate:.2f} points/s); report built in {wall - stats.wall_s:.1f} s."
    )
    print(selection_text(race))
    if stage_race:
        print("Step-up: " + selection_text(stage_race))
    print(f"Recommended: {context['recommended_label']}")
    print(f"Open {out / 'index.html'}")
    return 0


def _stepup_stage(scenarios, grid, main, folder, weights, pool, race, scales, args, stats):
    """The second stage (``reports/stepup.py``): step-up points on the main grid's pick.

    Returns the stage's items, grown to their replications, and KN's summary (both
    empty when no scenario has payments or the grid sweeps step-up keys itself).
    """
    from . import stepup
    from .decision import recommend
    from .results import build_table
    from .sequential import merge_stats, run_sequential
    from .sweep import run_points

    if not stepup.applies(scenarios, grid):
        return [], {}
    first, cap, delta = race
    records, _ = run_points([it.point for it in main], folder, "inline", progress=False)
    table = build_table(main, records, weights)
    totals = table[(table["study"] == "main") & (table["scenario"] == "all")]
    best = recommend(totals)
    base = json.loads(best["overrides"])
    stage = stepup.items(scenarios, base, first, scales)
    # The same zone in the same money: KN compares cost per 1,000 checkouts of the payment
    # scenarios only, and a difference there is diluted over all scenarios' checkouts.
    mine = table[(table["study"] == "main") & (table["point"] == best["point"])]
    paying = mine[mine["scenario"].isin({it.scenario for it in stage})]["checkouts"].sum()
    zone = delta * paying / best["checkouts"] if best["checkouts"] else delta
    stage, summary, part = run_sequential(
        stage,
        [],
        folder,
        weights,
        pool,
        first=first,
        cap=cap,
        delta=zone,
        step=_opt(args, "step"),
        progress=_opt(args, "progress"),
    )
    merge_stats(stats, part)
    stats.points += part.points
    return stage, summary


def selection_text(race: dict) -> str:
    """One line on how the replications were shared out."""
    counts = sorted(race["counts"].values())
    spread = f"{counts[0]}–{counts[-1]}" if counts[0] != counts[-1] else f"{counts[0]}"
    if race["procedure"] != "KN" or "stages" not in race:
        return f"{spread} replications per policy (fixed)"
    end = (
        "one policy left: the best is separated by the indifference zone"
        if race["separated"]
        else f"{len(race['survivors'])} policies still within the zone at the cap"
    )
    return (
        f"KN over {race['systems']} feasible policies (first stage {race['first_stage']}, "
        f"cap {race['cap']}, zone {race['indifference']:.3g} per 1,000 checkouts): "
        f"{spread} replications per policy in {race['rounds']} rounds; {end}"
    )


def _command(args: argparse.Namespace) -> str:
    """The command line that reproduces this run (relative paths only)."""
    parts = ["smsverify tune"]
    for name in args.scenario or []:
        parts.append(f"--scenario {_shown(name)}")
    if args.grid:
        parts.append("--grid " + " ".join(args.grid))
    for name in (
        "replications",
        "first_stage",
        "max_replications",
        "indifference",
        "scale",
        "order_value",
        "fraud_loss_per_success",
        "attacked_per_1k",
        "max_guess_success",
        "jpy_per_unit",
    ):
        value = _opt(args, name)
        if value != DEFAULTS[name]:
            parts.append(f"--{name.replace('_', '-')} {value:g}")
    if not _opt(args, "studies"):
        parts.append("--no-studies")
    parts.append(f"--out {_shown(args.out)}")
    return " ".join(parts)


def _shown(path: str) -> str:
    """A path as the report may print it: relative, or just its name."""
    return path if not Path(path).is_absolute() else Path(path).name


def main(argv: list[str] | None = None) -> int:
    """``python -m reports``: ``smsverify tune`` with every option."""
    parser = add_arguments(argparse.ArgumentParser(prog="python -m reports", description=__doc__))
    args = parser.parse_args(argv)
    from verifier.errors import ConfigError

    try:
        return tune_command(args)
    except ConfigError as err:
        print(f"tune: invalid configuration: {err}", file=sys.stderr)
        return 2

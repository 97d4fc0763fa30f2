"""``smsverify loadtest``: run a load test and print where its report is.

Arguments come from ``smsverify.cli`` (``--scenario``, ``--store``, ``--duration``,
``--compress``, ``--rate-scale``, ``--workers``, ``--api``, ``--out``, and for
``--find-capacity``: ``--steps``, ``--start-rate``, ``--server-workers``,
``--slo-p99-ms``, ``--max-error-rate``). Exit status: 0 when every security invariant
holds (or could not be checked; with ``--find-capacity``: when the search ran), 1 when
one fails or the run could not finish, 130 when interrupted; configuration errors exit
2 through ``smsverify.cli``.
Ctrl-C and SIGTERM stop every process the run started before the command exits.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from verifier.errors import ConfigError

from .capacity_run import CapacityOptions, find
from .runner import Options, run


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt  # unwinds through the runner, which stops its children


def loadtest_command(args: argparse.Namespace) -> int:
    """Entry point of ``smsverify loadtest``."""
    if getattr(args, "find_capacity", False):
        return capacity_command(args)
    options = Options(
        scenario=args.scenario,
        # None (no --store): a SQLite file in --out, which the invariants can open after
        # the run; a memory:// store lives and dies inside the server process.
        store=getattr(args, "store", None),
        duration=args.duration or "60s",
        compress=args.compress,
        rate_scale=args.rate_scale,
        workers=args.workers,
        out=Path(args.out or "reports/out/loadtest"),
        api=getattr(args, "api", "v1"),
    )
    result, failed = _stoppable(run, options)
    if failed is not None:
        return failed
    summary(result, options.out)
    return 0 if result.passed else 1


def _stoppable(call, options):
    """``call(options)`` with SIGTERM as Ctrl-C: (its result, None), or (None, exit status)
    when it was interrupted (130) or could not finish (1); its children are stopped."""
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return call(options), None
    except KeyboardInterrupt:
        print(
            "smsverify loadtest: interrupted; every process it started is stopped", file=sys.stderr
        )
        return None, 130
    except RuntimeError as err:
        print(f"smsverify loadtest: {err}", file=sys.stderr)
        return None, 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def summary(result, out: Path) -> None:
    """A few lines on the terminal; the report has the rest."""
    t = result.transform
    buyers = int(result.sessions["actor"].eq("buyer").sum())
    print(f"{result.scenario.name}: X = {t.compress:g}, Y = {t.rate_scale:.4g}, {buyers} buyers")
    rows = {r.key: r for r in result.rows}
    conversion = rows.get("conversion")
    if conversion is not None and conversion.measured is not None:
        predicted = conversion.predicted
        shown = "-" if predicted is None else f"{predicted:.1%}"
        print(f"conversion measured {conversion.measured:.1%}, predicted {shown}")
    for check in result.invariants:
        status = "pass" if check.passed else "not checked" if check.passed is None else "FAIL"
        print(f"{status:>11}  {check.name}")
    print(f"wrote {out / 'load-report.html'} and {out / 'load-report.md'}")


def capacity_command(args: argparse.Namespace) -> int:
    """``smsverify loadtest --find-capacity``: 0 when the search ran (whatever it found),
    1 when a step could not run, 130 when interrupted."""
    if args.compress is not None or args.rate_scale is not None:
        raise ConfigError("find-capacity", "runs at real time: leave out --compress/--rate-scale")
    options = CapacityOptions(
        scenario=args.scenario,
        store=getattr(args, "store", None),
        duration=args.duration or "5m",
        steps=args.steps,
        start_rate=args.start_rate,
        workers=args.workers,
        server_workers=args.server_workers,
        slo_p99_ms=args.slo_p99_ms,
        max_error_rate=args.max_error_rate,
        out=Path(args.out or "reports/out/capacity"),
        api=getattr(args, "api", "v1"),
    )
    result, failed = _stoppable(find, options)
    if failed is not None:
        return failed
    for step in result.finding.steps:
        print(
            f"step {step.index}: {step.rate:.3g} checkouts/s offered, "
            f"{step.requests_per_s:.1f} requests/s, p99 {step.p99_ms or 0:.0f} ms: {step.verdict}"
        )
    found = result.finding.capacity
    held = "no step held" if found is None else f"held {found.rate:.3g} checkouts/s"
    print(
        f"{result.scenario.name}: {held}; ran out: "
        f"{result.finding.limit(result.cores, options.server_workers)}"
    )
    print(f"wrote {options.out / 'capacity-report.html'} and {options.out / 'capacity-report.md'}")
    return 0

"""``smsverify loadtest``: run a load test and print where its report is.

Arguments come from ``smsverify.cli`` (``--scenario``, ``--store``, ``--duration``,
``--compress``, ``--rate-scale``, ``--workers``, ``--api``, ``--out``). Exit status: 0 when every
security invariant holds (or could not be checked), 1 when one fails or the run could
not finish, 130 when interrupted; configuration errors exit 2 through ``smsverify.cli``.
Ctrl-C and SIGTERM stop every process the run started before the command exits.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path

from .runner import Options, run


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt  # unwinds through the runner, which stops its children


def loadtest_command(args: argparse.Namespace) -> int:
    """Entry point of ``smsverify loadtest``."""
    options = Options(
        scenario=args.scenario,
        # None (no --store): a SQLite file in --out, which the invariants can open after
        # the run; a memory:// store lives and dies inside the server process.
        store=getattr(args, "store", None),
        duration=args.duration,
        compress=args.compress,
        rate_scale=args.rate_scale,
        workers=args.workers,
        out=Path(args.out),
        api=getattr(args, "api", "v1"),
    )
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        result = run(options)
    except KeyboardInterrupt:
        print(
            "smsverify loadtest: interrupted; every process it started is stopped", file=sys.stderr
        )
        return 130
    except RuntimeError as err:
        print(f"smsverify loadtest: {err}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary(result, Path(args.out))
    return 0 if result.passed else 1


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

"""The ``smsverify`` command line: one console script, a subcommand per part.

It lives above every layer (engine, service, model, load tests, reports), so that none
of them imports another's command line. Parsers are defined here so ``smsverify --help``
is cheap; each subcommand's work is imported only when it runs, so ``smsverify number``
never loads the web stack or SimPy.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from verifier.errors import ConfigError, VerificationError

RUNNERS = {
    "number": "smsverify.cli:number_command",
    "serve": "verifier.http.server:serve_command",
    "simulate": "simulation.cli:simulate_command",
    "tune": "reports.cli:tune_command",
    "loadtest": "loadtests.cli:loadtest_command",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsverify", description="SMS phone verification: engine, service, model, reports."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    number = sub.add_parser("number", help="normalise a phone number and say if it is verifiable")
    number.add_argument("phone", help="national or E.164 form, e.g. 090-1234-5678")
    number.add_argument("--country", help="ISO 3166 alpha-2 region, e.g. JP")
    number.add_argument("--policy", help="policy TOML file (default: the shipped default)")
    number.add_argument("--json", action="store_true", help="print JSON instead of text")

    serve = sub.add_parser("serve", help="run the HTTP verification service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--store", default="sqlite:///smsverify.db")
    serve.add_argument("--sender", default="sandbox", help="sandbox or http://HOST:PORT")
    serve.add_argument("--policy", help="policy TOML file")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--trusted-proxy-header", default=None, help="e.g. X-Forwarded-For")
    serve.add_argument(
        "--trusted-proxies",
        default=None,
        help="addresses/networks of trusted proxies, comma-separated (default: loopback)",
    )
    serve.add_argument(
        "--hmac-key-file",
        default=None,
        help="HMAC key file, created 0600 if absent (default ~/.config/smsverify/hmac.key)",
    )

    simulate = sub.add_parser("simulate", help="run a scenario through the SimPy model")
    simulate.add_argument("--scenario", required=True, help="shipped name or TOML file")
    simulate.add_argument("--policy", help="policy TOML file")
    simulate.add_argument("--seed", type=int)
    simulate.add_argument("--replications", type=int, default=1)
    simulate.add_argument("--out", default="reports/out/simulate")

    tune = sub.add_parser("tune", help="sweep policies over scenarios and write the report")
    from reports.cli import add_arguments  # a light module: only argparse and pathlib

    add_arguments(tune)

    load = sub.add_parser("loadtest", help="drive the HTTP service with Locust")
    load.add_argument("--scenario", required=True)
    load.add_argument(
        "--store",
        default=None,
        help="server store URL (default: a SQLite file in --out, which the invariants read)",
    )
    load.add_argument(
        "--duration", default=None, help="the whole run (default 60s; 5m with --find-capacity)"
    )
    load.add_argument("--compress", type=float)
    load.add_argument("--rate-scale", type=float)
    load.add_argument("--workers", type=int, default=0)
    load.add_argument(
        "--api",
        choices=("v1", "twilio"),
        default="v1",
        help="v1: smsverify's own API; twilio: the same visitors through the Verify v2 shape",
    )
    load.add_argument(
        "--out",
        default=None,
        help="output folder (default reports/out/loadtest, or reports/out/capacity)",
    )
    capacity = load.add_argument_group("capacity search (--find-capacity)")
    capacity.add_argument(
        "--find-capacity",
        action="store_true",
        help="raise open arrivals in steps until the SLO breaks; writes capacity-report.html",
    )
    capacity.add_argument("--steps", type=int, default=8, help="at most this many steps")
    capacity.add_argument(
        "--start-rate", type=float, help="checkouts/s of the first step (default: the mean)"
    )
    capacity.add_argument("--server-workers", type=int, default=1)
    capacity.add_argument("--slo-p99-ms", type=float, default=250.0)
    capacity.add_argument("--max-error-rate", type=float, default=0.01)
    return parser


def number_command(args: argparse.Namespace) -> int:
    """Print a number's E.164 form, region, type, and whether the policy lets it verify."""
    from verifier.phone import check_policy, parse_phone
    from verifier.policy import Policy

    policy = Policy.from_toml(args.policy) if args.policy else Policy.default()
    info = parse_phone(args.phone, args.country)
    try:
        check_policy(info, policy.numbers)
        verifiable, reason = True, None
    except VerificationError as err:
        verifiable, reason = False, err.code
    result = {
        "e164": info.e164,
        "region": info.region,
        "type": info.type,
        "verifiable": verifiable,
        "reason": reason,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"e164:       {info.e164}")
        print(f"region:     {info.region}")
        print(f"type:       {info.type}")
        print(f"verifiable: {'yes' if verifiable else 'no (' + reason + ')'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    module_name, _, func_name = RUNNERS[args.command].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            print(f"smsverify {args.command}: not built yet", file=sys.stderr)
            return 2
        raise
    try:
        return getattr(module, func_name)(args) or 0
    except ConfigError as err:
        print(f"smsverify {args.command}: invalid configuration: {err}", file=sys.stderr)
        return 2
    except VerificationError as err:
        print(f"smsverify {args.command}: {err.code}: {err.detail or err.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Locust's CSV output read back: per-endpoint rates and latencies, failures by kind.

``OUT/locust_stats.csv`` has one row per request name plus ``Aggregated``;
``OUT/locust_failures.csv`` one row per (method, name, error). Business refusals were
reported as ``Refused('code')`` and real errors as ``Broken('…')`` or the transport's
exception (``loadtests/api.py``), so the error text says which is which.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

REFUSED = re.compile(r"Refused\(['\"]([a-z_]+)['\"]\)")
BROKEN = re.compile(r"Broken\(['\"](.*)['\"]\)")


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None


@dataclass(frozen=True, slots=True)
class Failure:
    name: str
    kind: str  # "refused" (an expected business outcome) or "error"
    what: str  # the contract code, or the error's description
    count: int


def _number(value: str | None) -> float | None:
    if value in (None, "", "N/A"):
        return None
    return float(value)


def endpoints(prefix: Path) -> list[Endpoint]:
    path = Path(f"{prefix}_stats.csv")
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [
            Endpoint(
                row["Name"],
                int(row["Request Count"]),
                int(row["Failure Count"]),
                _number(row["Requests/s"]) or 0.0,
                _number(row.get("50%")),
                _number(row.get("95%")),
                _number(row.get("99%")),
                _number(row.get("Max Response Time")),
            )
            for row in csv.DictReader(handle)
        ]


def failures(prefix: Path) -> list[Failure]:
    path = Path(f"{prefix}_failures.csv")
    if not path.exists():
        return []
    found = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            error, count = row["Error"], int(row["Occurrences"])
            refused = REFUSED.search(error)
            if refused:
                found.append(Failure(row["Name"], "refused", refused.group(1), count))
                continue
            broken = BROKEN.search(error)
            found.append(Failure(row["Name"], "error", broken.group(1) if broken else error, count))
    return sorted(found, key=lambda f: (f.name, f.kind, -f.count))

"""Measured deployments beside the model's peaks: the planner's answer in the report.

``smsverify loadtest --find-capacity`` writes ``capacity.json``: the highest rate of
checkouts (and server requests) a named deployment held within its SLO, and the command
that measured it. ``smsverify tune --capacity FILE`` (repeatable) reads those files and
sets each deployment against every scenario's simulated peak under the recommended
policy: the headroom is the capacity over the peak, in checkouts/s and in requests/s.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from verifier.errors import ConfigError

from .tables import Cell, number

HEADER = [
    "Deployment",
    "Measured with the mix of",
    "Holds checkouts/s",
    "Holds requests/s",
    "Scenario",
    "Peak checkouts/s",
    "Peak requests/s",
    "Headroom (checkouts)",
    "Headroom (requests)",
]


@dataclass(frozen=True, slots=True)
class Deployment:
    """What one capacity search found."""

    name: str  # e.g. "SQLite, 1 server worker, API v1"
    scenario: str  # whose mix of buyers and attackers it was measured with
    checkouts_per_s: float | None  # None: no step held
    requests_per_s: float | None
    lower_bound: bool  # the search stopped before anything broke (or at the generator)
    limit: str  # which resource ran out, in a sentence
    command: str  # the command that measured it

    def as_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}


def _number(data: dict, key: str, where: str) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError("capacity", f"{where}: {key} must be a non-negative number")
    return float(value)


def read(path: str | Path) -> Deployment:
    """One ``capacity.json``; a clear error naming the file and the key otherwise."""
    path = Path(path)
    where = path.name if path.name != "capacity.json" else f"{path.parent.name}/{path.name}"
    try:
        data = json.loads(path.read_text("utf-8"))
    except OSError as err:
        raise ConfigError("capacity", f"cannot read {where}: {err.strerror}") from None
    except ValueError as err:
        raise ConfigError("capacity", f"{where} is not JSON: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError("capacity", f"{where}: expected an object")
    for key in ("deployment", "scenario", "command", "limit"):
        if not isinstance(data.get(key), str):
            raise ConfigError(
                "capacity",
                f"{where}: missing {key!r}; is it a capacity.json of "
                "`smsverify loadtest --find-capacity`?",
            )
    return Deployment(
        name=data["deployment"],
        scenario=data["scenario"],
        checkouts_per_s=_number(data, "capacity_checkouts_per_s", where),
        requests_per_s=_number(data, "capacity_requests_per_s", where),
        lower_bound=bool(data.get("lower_bound", False)),
        limit=data["limit"],
        command=data["command"],
    )


def _peak_requests(row: pd.Series) -> float | None:
    parts = [row.get(f"full_peak_{k}_per_s") for k in ("start", "resend", "check")]
    if any(p is None or p != p for p in parts):
        return None
    return float(sum(parts))


def _headroom(capacity: float | None, peak: float | None, lower_bound: bool) -> str:
    if capacity is None:
        return "none held"
    if peak is None or not peak > 0:
        return "-"
    ratio = capacity / peak
    text = f"{ratio:.3g}×"
    if lower_bound:
        return f"at least {text}"
    return text if ratio >= 1 else f"{text}: short"


def rows(main: pd.DataFrame, point: str, deployments: list[dict]) -> list[list[Cell]]:
    """Every deployment against every scenario's peak under policy ``point``."""
    out = []
    scenarios = main[(main["point"] == point) & (main["scenario"] != "all")]
    for d in deployments:
        held = d["checkouts_per_s"]
        mark = " (at least)" if d["lower_bound"] else ""
        for _, row in scenarios.iterrows():
            peak_requests = _peak_requests(row)
            peak = row.get("full_peak_arrivals_per_s")
            peak = None if peak is None or peak != peak else float(peak)
            out.append(
                [
                    Cell(d["name"]),
                    Cell(d["scenario"]),
                    Cell("-" if held is None else f"{held:.3g}{mark}"),
                    Cell("-" if d["requests_per_s"] is None else f"{d['requests_per_s']:.3g}"),
                    Cell(row["scenario"]),
                    number(row, "full_peak_arrivals_per_s", "n1"),
                    Cell("-" if peak_requests is None else f"{peak_requests:.1f}"),
                    Cell(_headroom(held, peak, d["lower_bound"])),
                    Cell(_headroom(d["requests_per_s"], peak_requests, d["lower_bound"])),
                ]
            )
    return out

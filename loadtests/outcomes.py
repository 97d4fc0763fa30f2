"""Session records and the KPIs read from them, the same way for measured and predicted.

A Locust process records one flat row per session with the model's own columns
(``simulation.kpis.COLUMNS``), times in seconds from the run's time zero, plus the
load test's extras (``EXTRA``). ``summarise`` turns either side's rows into the KPIs of
the measured-vs-predicted table. A load test stops after ``run_s`` seconds while the
model runs every buyer to the end, so both sides are read with one rule: a session
still running at ``run_s`` is *cut off* (neither verified nor abandoned), and only
approvals by ``run_s`` count.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from simulation.kpis import COLUMNS

EXTRA = (
    "start_lag_s",  # how late the session started against its scheduled arrival
    "verification_id",  # the last verification the session worked on, or None
)
CUT_OFF = "cut_off"
OVERFLOW = "overflow"  # arrived while every session slot was taken: never started
ERROR = "error"  # a transport error or an answer outside the contract ended it
REFUSALS_THAT_SEND = ("sent", "existing")


def frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a DataFrame with every column, in the model's order, extras last."""
    return pd.DataFrame(rows, columns=[*COLUMNS, *EXTRA])


def read(folder: Path) -> tuple[pd.DataFrame, list[dict]]:
    """Every process's rows from ``folder/*.json``, and each file's header (rows removed)."""
    rows, headers = [], []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text("utf-8"))
        rows.extend(data.pop("rows"))
        headers.append(data)
    return frame(rows), headers


def _q(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if values.size else None


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def summarise(sessions: pd.DataFrame, run_s: float) -> dict:
    """The comparison KPIs of one side's session rows, censored at ``run_s``."""
    buyers = sessions[sessions["actor"] == "buyer"]
    outcome = buyers["outcome"].astype(str)
    cut = (outcome == CUT_OFF) | (buyers["end_s"].astype(float) > run_s)
    overflow = outcome == OVERFLOW
    outcome = outcome.where(~cut | overflow, CUT_OFF)
    approved = outcome == "approved"
    finished = ~outcome.isin([CUT_OFF, OVERFLOW])
    checkouts = int(len(buyers) - overflow.sum())
    verified = int(approved.sum())
    ttv = buyers.loc[approved, "ttv_s"].to_numpy(dtype=float)
    sends = int(buyers["sends"].sum())
    # Per verified buyer, only finished sessions count: a cut-off session's later sends
    # exist on the model's side only.
    finished_sends = int(buyers.loc[finished, "sends"].sum())
    return {
        "checkouts": checkouts,
        "verified": verified,
        "conversion": _ratio(verified, checkouts),
        "ttv_p50_s": _q(ttv, 50),
        "ttv_p95_s": _q(ttv, 95),
        "codes_expired": int(buyers["codes_expired"].sum()),
        "legit_lockouts": int((outcome == "locked_out").sum()),
        "abandoned": int((finished & ~approved).sum()),
        "gave_up": int((outcome == "gave_up").sum()),
        "cut_off": int((outcome == CUT_OFF).sum()),
        "overflow": int(overflow.sum()),
        "errors": int((outcome == ERROR).sum()),
        "buyer_sms_sent": sends,
        "sms_per_verified": _ratio(finished_sends, verified),
        **fraud(sessions),
    }


def fraud(sessions: pd.DataFrame) -> dict:
    """What the attackers did and got, from their rows."""
    actor = sessions["actor"]
    brute = sessions[actor == "bruteforce"]
    pump = sessions[actor == "pumping"]
    enum = sessions[actor == "enumeration"]
    return {
        "bruteforce_attempts": int(brute["checks"].sum()),
        "bruteforce_successes": int((brute["outcome"] == "approved").sum()),
        "bruteforce_verifications": int((brute["sends"] > 0).sum()),
        "pumping_sms_sent": int(pump["sends"].sum()),
        "pumping_sms_blocked": int((~pump["outcome"].isin(REFUSALS_THAT_SEND)).sum()),
        "enumeration_probes": len(enum),
        "enumeration_revealed": int((enum["outcome"] == "phone_number_already_registered").sum()),
    }


def outcome_counts(sessions: pd.DataFrame, run_s: float) -> pd.DataFrame:
    """Sessions per actor and outcome (cut-off applied), for the report's outcomes table."""
    s = sessions.copy()
    late = (s["end_s"].astype(float) > run_s) & (s["outcome"] != OVERFLOW)
    s.loc[late, "outcome"] = CUT_OFF
    return s.groupby(["actor", "outcome"]).size().rename("sessions").reset_index()

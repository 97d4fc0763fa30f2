"""Measured against predicted: the load test's numbers beside the model's, same scenario.

The model (``simulation.run.simulate``) plays the *transformed* scenario under the
server's policy. Replication 0 draws the same arrival times the load generators played
(``loadtests/flows.py``), so its column differs from the measurement only by service
times, reading times, typos and the real system; the other replications give the
spread one should expect from sampling alone (5th to 95th percentile). Session KPIs of
both sides go through :func:`loadtests.outcomes.summarise` with the same cut-off.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulation.kpis import occupancy
from simulation.run import simulate
from simulation.scenario import Scenario
from verifier import Policy

from .outcomes import summarise

MAX_REPLICATIONS = 20
BUYERS_PER_BATCH = 40_000  # fewer replications for big runs, to keep the model quick
THRESHOLD = 0.10  # a difference above this share is explained in the report

WAIT_FLOOR_S = 0.05  # the fake gateway's event loop adds a few ms to every wait
ROWS = (  # key, label, digits, scale (100 for a percentage), differences below this ignored
    ("checkouts", "buyers arrived", 0, 1, 0),
    ("verified", "verified by the end of the run", 0, 1, 0),
    ("conversion", "conversion (%)", 1, 100, 0),
    ("ttv_p50_s", "time to verify p50 (s)", 1, 1, 0),
    ("ttv_p95_s", "time to verify p95 (s)", 1, 1, 0),
    ("codes_expired", "codes expired at check", 0, 1, 0),
    ("legit_lockouts", "buyers locked out", 0, 1, 0),
    ("abandoned", "buyers abandoned (ended unverified)", 0, 1, 0),
    ("cut_off", "buyers still running at the end", 0, 1, 0),
    ("sms_sent", "SMS handed to the gateway", 0, 1, 0),
    ("sms_per_s", "SMS/s over the arrival window", 2, 1, 0),
    ("sms_per_verified", "SMS per verified buyer (finished sessions)", 2, 1, 0),
    ("gateway_wait_mean_s", "gateway wait mean (s)", 3, 1, WAIT_FLOOR_S),
    ("gateway_wait_p99_s", "gateway wait p99 (s)", 3, 1, WAIT_FLOOR_S),
    ("gateway_utilization", "gateway utilisation (%)", 1, 100, 0),
    ("bruteforce_attempts", "brute-force checks", 0, 1, 0),
    ("bruteforce_successes", "brute-force successes", 0, 1, 0),
    ("pumping_sms_sent", "pumping SMS sent", 0, 1, 0),
    ("pumping_sms_blocked", "pumping starts refused", 0, 1, 0),
    ("enumeration_revealed", "enumeration probes that revealed a registration", 0, 1, 0),
)
FRAUD_KEYS = {
    "bruteforce_attempts": "bruteforce_rate_per_s",
    "bruteforce_successes": "bruteforce_rate_per_s",
    "pumping_sms_sent": "pumping_rate_per_s",
    "pumping_sms_blocked": "pumping_rate_per_s",
    "enumeration_revealed": "enumeration_rate_per_s",
}


def gateway_kpis(
    queued: np.ndarray, started: np.ndarray, ended: np.ndarray, channels: int, window_s: float
) -> dict:
    """Wait mean and p99, SMS/s and utilisation from per-message times (either side)."""
    waits = started - queued
    busy = occupancy(started, ended, np.array([0.0, window_s]))[0]
    return {
        "sms_sent": int(queued.size),
        "sms_per_s": queued.size / window_s,
        "gateway_wait_mean_s": float(waits.mean()) if waits.size else None,
        "gateway_wait_p99_s": float(np.percentile(waits, 99)) if waits.size else None,
        "gateway_utilization": float(busy / (channels * window_s)),
    }


def measured(sessions: pd.DataFrame, gateway_stats: dict, played: Scenario, cut_s: float):
    """The load test's KPIs: session rows and the gateway's per-message times."""
    times = np.array(gateway_stats.get("messages") or [], dtype=float).reshape(-1, 4)
    window = played.duration_s
    gw = gateway_kpis(times[:, 0], times[:, 1], times[:, 2], gateway_stats["channels"], window)
    # Handed over = accepted (some may still wait for a channel) + refused (queue full).
    gw["sms_sent"] = int(gateway_stats["accepted"]) + int(gateway_stats.get("refused", 0))
    gw["sms_per_s"] = gw["sms_sent"] / window
    return {**summarise(sessions, cut_s), **gw}


def _model_kpis(replication, played: Scenario, cut_s: float) -> dict:
    m = replication.metrics
    return {
        **summarise(replication.verifications, cut_s),
        "sms_sent": m["sms_sent"],
        "sms_per_s": m["sms_sent"] / played.duration_s,
        "gateway_wait_mean_s": m["gateway_wait_mean_s"],
        "gateway_wait_p99_s": m["gateway_wait_p99_s"],
        "gateway_utilization": m["gateway_utilization"],
    }


@dataclass
class Prediction:
    """Replication 0 (the measured arrival times) and the spread over all replications."""

    same_arrivals: dict
    mean: dict  # over replications: the model's expectation
    low: dict  # 5th percentile over replications
    high: dict  # 95th percentile
    replications: int


def predict(played: Scenario, policy: Policy, cut_s: float, expected_buyers: float) -> Prediction:
    n = int(max(3, min(MAX_REPLICATIONS, BUYERS_PER_BATCH // max(1.0, expected_buyers))))
    result = simulate(played, policy, replications=n)
    runs = [_model_kpis(r, played, cut_s) for r in result.replications]
    mean, low, high = {}, {}, {}
    for key in runs[0]:
        values = [r[key] for r in runs if r[key] is not None]
        if values:
            mean[key] = float(np.mean(values))
            low[key] = float(np.percentile(values, 5))
            high[key] = float(np.percentile(values, 95))
    return Prediction(runs[0], mean, low, high, n)


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    label: str
    measured: float | None
    predicted: float | None
    mean: float | None
    low: float | None
    high: float | None
    digits: int
    scale: float
    floor: float = 0.0

    @property
    def difference(self) -> float | None:
        """(measured - predicted) / predicted, or None when undefined."""
        if self.measured is None or self.predicted is None:
            return None
        if math.isnan(self.measured) or math.isnan(self.predicted):
            return None  # a KPI of nothing on one side (e.g. a percentile of no buyers)
        if self.predicted == 0:
            return 0.0 if self.measured == 0 else None
        return (self.measured - self.predicted) / abs(self.predicted)

    @property
    def within_spread(self) -> bool | None:
        if self.measured is None or self.low is None or self.high is None:
            return None
        return self.low <= self.measured <= self.high

    @property
    def notable(self) -> bool:
        """Over the threshold (or undefined against a non-zero side): to be explained."""
        m, p = self.measured, self.predicted
        if m is not None and p is not None and abs(m - p) < self.floor:
            return False
        d = self.difference
        if d is None:
            return self.measured != self.predicted
        return abs(d) > THRESHOLD


def rows(
    measured_kpis: dict, prediction: Prediction, played: Scenario, skip: tuple[str, ...] = ()
) -> list[Row]:
    """The table's rows, leaving out attackers the scenario does not have and ``skip``."""
    out = []
    for key, label, digits, scale, floor in ROWS:
        if key in skip:
            continue
        rate = FRAUD_KEYS.get(key)
        if rate is not None and getattr(played.fraud, rate) == 0:
            continue
        out.append(
            Row(
                key,
                label,
                measured_kpis.get(key),
                prediction.same_arrivals.get(key),
                prediction.mean.get(key),
                prediction.low.get(key),
                prediction.high.get(key),
                digits,
                scale,
                floor,
            )
        )
    return out

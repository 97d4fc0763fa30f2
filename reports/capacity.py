"""Capacity figures for planners: peak rates per endpoint and gateway channels (Erlang C).

Peaks are read from the model's per-minute table (one replication at a time, then
averaged): the busiest five minutes' SMS/s and buyer arrivals/s. A window rather than
the single busiest minute, because the busiest minute of a thinned run overstates the
full-traffic peak (Poisson noise is relatively larger in small counts). Requests per endpoint at
that minute come from the per-minute ``starts``/``resends``/``checks`` columns when the
model writes them; otherwise they are estimated as the peak arrival rate times the
run's calls per buyer, plus the attackers' calls spread over the run (their rates are
constant).

Channels are sized with the M/M/c closed form (Erlang C): offered load a = λ·E[S],
P(wait) = C(c, a) from the stable Erlang B recursion, and P(Wq > t) = C·e^{−(cμ−λ)t}.
The gateway is sized so that P(Wq > TTL) ≤ 1 %, i.e. the 99th percentile of the wait
stays under the code's TTL. It is a closed form on the peak minute's rate held steady,
with exponential service of the scenario's mean: a planning figure, not a simulation.
"""

from __future__ import annotations

import math

import numpy as np

P99 = 0.01
WINDOW_MIN = 5  # minutes: long enough to damp Poisson noise, short enough for a drop's peak
MAX_CHANNELS = 10**7


def erlang_c(channels: int, load: float) -> float:
    """P(an arrival waits) in M/M/c with offered load ``load`` = λ/μ; 1 when overloaded."""
    if channels <= 0:
        raise ValueError("channels must be positive")
    if load <= 0:
        return 0.0
    if load >= channels:
        return 1.0
    b = 1.0
    for k in range(1, channels + 1):
        b = load * b / (k + load * b)
    return channels * b / (channels - load * (1 - b))


def wait_quantile(channels: int, rate: float, mean_service: float, q: float = 0.99) -> float:
    """The ``q`` quantile of the M/M/c queueing delay Wq (seconds); inf when overloaded."""
    if rate <= 0:
        return 0.0
    mu = 1.0 / mean_service
    load = rate * mean_service
    if load >= channels:
        return math.inf
    c = erlang_c(channels, load)
    if c <= 1 - q:
        return 0.0
    return math.log(c / (1 - q)) / (channels * mu - rate)


def channels_needed(rate: float, mean_service: float, max_wait_s: float, q: float = 0.99) -> int:
    """The fewest channels keeping the ``q`` quantile of Wq at most ``max_wait_s``."""
    if rate <= 0:
        return 1
    lo = max(1, math.floor(rate * mean_service) + 1)
    if wait_quantile(lo, rate, mean_service, q) <= max_wait_s:
        return lo
    hi = lo * 2
    while wait_quantile(hi, rate, mean_service, q) > max_wait_s:
        hi *= 2
        if hi > MAX_CHANNELS:
            raise ValueError("no channel count under 10^7 meets the wait target")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if wait_quantile(mid, rate, mean_service, q) <= max_wait_s:
            hi = mid
        else:
            lo = mid
    return hi


def busiest(per_minute: list[float], window: int = WINDOW_MIN) -> float:
    """The highest mean of ``window`` consecutive minutes (the whole run if shorter)."""
    if not per_minute:
        return 0.0
    values = np.asarray(per_minute, dtype=float)
    if len(values) <= window:
        return float(values.mean())
    sums = np.convolve(values, np.ones(window), mode="valid")
    return float(sums.max() / window)


def peaks(series: dict[str, list], extras: dict, metrics: dict, duration_s: float) -> dict:
    """Busiest-window rates of one replication: SMS/s, arrivals/s, HTTP requests/s per endpoint."""
    peak_sms = busiest(series.get("sms_per_s") or [])
    peak_arrivals = busiest(series.get("arrivals") or []) / 60.0
    out = {"peak_sms_per_s": peak_sms, "peak_arrivals_per_s": peak_arrivals}
    if all(series.get(c) for c in ("starts", "resends", "checks")):
        for name, col in (("start", "starts"), ("resend", "resends"), ("check", "checks")):
            out[f"peak_{name}_per_s"] = busiest(series[col]) / 60.0
        return out
    checkouts = metrics.get("checkouts") or 0
    per_buyer = (lambda n: n / checkouts) if checkouts else (lambda n: 0.0)
    fraud_starts = sum(
        metrics.get(k) or 0
        for k in (
            "pumping_sms_sent",
            "pumping_sms_blocked",
            "bruteforce_verifications",
            "enumeration_probes",
            "farming_attempts",
        )
    )
    fraud_checks = sum(extras.get(f"{a}_checks", 0) for a in ("bruteforce", "farming"))
    out["peak_start_per_s"] = peak_arrivals + fraud_starts / duration_s
    out["peak_resend_per_s"] = peak_arrivals * per_buyer(metrics.get("buyer_resends") or 0)
    out["peak_check_per_s"] = (
        peak_arrivals * per_buyer(extras.get("buyer_checks", 0)) + fraud_checks / duration_s
    )
    return out

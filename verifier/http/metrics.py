"""Prometheus metrics of the service: requests, outcomes, latency, sends, lockouts, fraud.

Labels take values from small fixed sets only (route templates, methods, statuses,
contract codes, event kinds, detector names): never a number, a code, an account or a
verification id. With several workers ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR``
before anything imports ``prometheus_client``, and ``/metrics`` sums every worker.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from ..events import KINDS, Event

disable_created_metrics()  # *_created series double the output and say nothing here

# The metrics live in a registry of their own so that test processes building many apps
# share one set and no other library's collectors leak in.
REGISTRY = CollectorRegistry(auto_describe=True)
METHODS = frozenset({"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"})
FRAUD_REASONS = frozenset(
    {"check_too_fast", "client_mismatch", "sequential_numbers", "prefix_volume"}
)
SEND_RESULTS = ("staged", "delivered", "retried", "expired", "rejected")
_SAFE = re.compile(r"^[a-z_]{1,40}$")

REQUESTS = Counter(
    "smsverify_http_requests",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "smsverify_http_request_duration_seconds",
    "HTTP request latency by method and route template",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
OUTCOMES = Counter(
    "smsverify_outcomes",
    "API operations by outcome: ok or the problem code",
    ["operation", "outcome"],
    registry=REGISTRY,
)
SENDS = Counter(
    "smsverify_sms_sends",
    "SMS by result: staged by the engine, then delivered, retried, expired or rejected",
    ["result"],
    registry=REGISTRY,
)
EVENTS = Counter("smsverify_events", "Engine events by kind", ["kind"], registry=REGISTRY)
LOCKOUTS = Counter(
    "smsverify_lockouts", "Verifications locked after too many wrong codes", registry=REGISTRY
)
FRAUD = Counter(
    "smsverify_fraud_flags",
    "Abnormal operations detected, by detector",
    ["reason"],
    registry=REGISTRY,
)


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def route_label(template: str | None) -> str:
    return template if template else "unmatched"


def observe_request(method: str, template: str | None, status: int, seconds: float) -> None:
    method = method if method in METHODS else "OTHER"
    route = route_label(template)
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def observe_outcome(operation: str | None, outcome: str) -> None:
    if operation and _SAFE.match(operation) and _SAFE.match(outcome):
        OUTCOMES.labels(operation, outcome).inc()


def count_send(result: str) -> None:
    if result in SEND_RESULTS:
        SENDS.labels(result).inc()


def on_event(event: Event) -> None:
    """Engine listener: count the event by kind, lockouts and fraud flags by detector."""
    if event.kind in KINDS:
        EVENTS.labels(event.kind).inc()
    if event.kind == "sent":
        SENDS.labels("staged").inc()
    elif event.kind == "locked":
        LOCKOUTS.inc()
    elif event.kind == "fraud_flagged":
        FRAUD.labels(event.reason if event.reason in FRAUD_REASONS else "other").inc()


class _Exposition:
    """What one scrape reads: this process's (or every worker's) metrics plus live gauges."""

    def __init__(self, outbox_depth: Callable[[], int] | None) -> None:
        self._depth = outbox_depth

    def collect(self):
        if multiprocess():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()
        if self._depth is not None:
            gauge = GaugeMetricFamily(
                "smsverify_outbox_depth", "SMS staged in the outbox, not yet delivered"
            )
            gauge.add_metric([], self._depth())
            yield gauge


def render(outbox_depth: Callable[[], int] | None = None) -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type."""
    return generate_latest(_Exposition(outbox_depth)), CONTENT_TYPE_LATEST

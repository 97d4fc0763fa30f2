"""``smsverify serve``: check the configuration, hand it to the workers, run uvicorn.

Workers are separate processes that rebuild the app themselves, so the configuration
travels in environment variables (``SMSVERIFY_*``) and uvicorn imports the factory
``verifier.http.server:app_from_env`` in each of them. Every worker opens the same store,
so state, the HMAC key (unless ``SMSVERIFY_HMAC_KEY`` gives one), idempotency answers,
sandbox messages and the outbox are shared across workers and restarts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from ..clock import SystemClock
from ..errors import ConfigError
from ..lifecycle import Verifier
from ..policy import Policy
from ..senders import SandboxSender
from ..stores import open_store

DEFAULT_STORE = "sqlite:///smsverify.db"
STORE = "SMSVERIFY_STORE"
SENDER = "SMSVERIFY_SENDER"
POLICY = "SMSVERIFY_POLICY"
PROXY_HEADER = "SMSVERIFY_TRUSTED_PROXY_HEADER"
HMAC_KEY = "SMSVERIFY_HMAC_KEY"
BENCH = "SMSVERIFY_BENCH"
CLIENT_IP_FROM_BODY = "SMSVERIFY_CLIENT_IP_FROM_BODY"
ACCESS_LOG = "SMSVERIFY_ACCESS_LOG"
GATEWAY_TIMEOUT = "SMSVERIFY_GATEWAY_TIMEOUT_S"
MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def hmac_key(text: str | None) -> bytes | None:
    """``SMSVERIFY_HMAC_KEY`` as bytes: hex if it reads as at least 16 hex bytes, else text."""
    if not text:
        return None
    if len(text) >= 32 and len(text) % 2 == 0:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return text.encode()


def load_policy(path: str | None) -> Policy:
    return Policy.from_toml(Path(path)) if path else Policy.default()


def check_sender(spec: str) -> str:
    if spec == "sandbox" or spec.startswith(("http://", "https://")):
        return spec
    raise ConfigError("sender", f"expected sandbox or http://HOST:PORT, got {spec!r}")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in ("1", "true", "yes")


def app_from_env():
    """The app of one worker process, built from the ``SMSVERIFY_*`` environment."""
    from . import metrics
    from .app import create_app

    env = os.environ
    store = open_store(env.get(STORE, DEFAULT_STORE))
    policy = load_policy(env.get(POLICY))
    clock = SystemClock()
    spec = check_sender(env.get(SENDER, "sandbox"))
    background, depth = [], None
    if spec == "sandbox":
        sender = SandboxSender(store=store, clock=clock)
    else:
        from ..outbox import GatewaySender, OutboxDelivery

        timeout = float(env.get(GATEWAY_TIMEOUT) or 5.0)
        delivery = OutboxDelivery(
            store,
            clock,
            spec,
            timeout_s=timeout,
            lease_s=3 * timeout,  # a claim outlives its attempt, so two never overlap
            on_result=metrics.count_send,
        )
        sender = GatewaySender(policy.code.ttl_s, wake=delivery.wake)
        background, depth = [delivery], delivery.depth
    verifier = Verifier(
        policy=policy, store=store, sender=sender, clock=clock, hmac_key=hmac_key(env.get(HMAC_KEY))
    )
    return create_app(
        verifier,
        trusted_proxy_header=env.get(PROXY_HEADER) or None,
        client_ip_from_body=_flag(CLIENT_IP_FROM_BODY),
        bench=_flag(BENCH),
        background=background,
        outbox_depth=depth,
        access_log=env.get(ACCESS_LOG, "1") != "0",
    )


def serve_command(args: argparse.Namespace) -> int:
    """Validate the configuration, print the policy's non-conformities, run uvicorn."""
    policy_path = str(Path(args.policy).resolve()) if args.policy else None
    policy = load_policy(policy_path)
    sender = check_sender(args.sender)
    if args.workers < 1:
        raise ConfigError("workers", f"expected at least 1, got {args.workers}")
    if args.store.startswith("memory:") and args.workers > 1:
        raise ConfigError("workers", "memory:// is per process; use sqlite or redis for workers")
    open_store(args.store).close()  # a bad URL fails here, once, not in every worker
    for finding in policy.non_conformities():
        print(f"smsverify serve: policy does not conform: {finding}", file=sys.stderr)

    os.environ[STORE] = args.store
    os.environ[SENDER] = sender
    os.environ.pop(POLICY, None)
    if policy_path:
        os.environ[POLICY] = policy_path
    os.environ.pop(PROXY_HEADER, None)
    if args.trusted_proxy_header:
        os.environ[PROXY_HEADER] = args.trusted_proxy_header
    # Set before anything imports prometheus_client, here and in the spawned workers.
    metrics_dir = tempfile.mkdtemp(prefix="smsverify-metrics-")
    os.environ[MULTIPROC_DIR] = metrics_dir

    from .runner import run

    try:
        run(args.host, args.port, args.workers)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0

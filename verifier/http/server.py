"""``smsverify serve``: check the configuration, hand it to the workers, run uvicorn.

Workers are separate processes that rebuild the app themselves, so the configuration
travels in environment variables (``SMSVERIFY_*``) and uvicorn imports the factory
``verifier.http.server:app_from_env`` in each of them. Every worker opens the same store,
so state, idempotency answers, sandbox messages and the outbox are shared across workers
and restarts. Two secrets never sit in the store: the HMAC key (``SMSVERIFY_HMAC_KEY``, or
a key file outside the database's folder, see :func:`key_file`) and the API secrets
(``SMSVERIFY_API_KEYS``, or generated once and kept only as digests).
"""

from __future__ import annotations

import argparse
import os
import secrets
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
HMAC_KEY_FILE = "SMSVERIFY_HMAC_KEY_FILE"
API_KEYS = "SMSVERIFY_API_KEYS"
TRUSTED_PROXIES = "SMSVERIFY_TRUSTED_PROXIES"
JANITOR_S = "SMSVERIFY_JANITOR_S"
BENCH = "SMSVERIFY_BENCH"
RECEIPTS_URL = "SMSVERIFY_RECEIPTS_URL"  # where a gateway posts delivery receipts
ACCESS_LOG = "SMSVERIFY_ACCESS_LOG"
GATEWAY_TIMEOUT = "SMSVERIFY_GATEWAY_TIMEOUT_S"
OUTBOX_CONCURRENCY = "SMSVERIFY_OUTBOX_CONCURRENCY"  # posting threads per worker
OUTBOX_CONCURRENCY_MAX = 64
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


def key_file(path: str | None = None) -> Path:
    """Where the HMAC key lives: ``path``, or ``$XDG_CONFIG_HOME/smsverify/hmac.key``
    (``~/.config/smsverify/hmac.key``), never beside the database by default."""
    if path:
        return Path(path)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "smsverify" / "hmac.key"


def ensure_key_file(path: Path) -> Path:
    """Create ``path`` with a new random key (mode 0600) if it does not exist yet."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32) + "\n")
    return path


def read_key_file(path: Path) -> bytes:
    try:
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError("hmac-key-file", f"cannot read {path}: {exc.strerror}") from None
    key = hmac_key(text)
    if not key or len(key) < 16:
        raise ConfigError("hmac-key-file", f"{path} holds no key of at least 16 bytes")
    return key


def load_policy(path: str | None) -> Policy:
    return Policy.from_toml(Path(path)) if path else Policy.default()


def outbox_concurrency(text: str | None) -> int:
    """The outbox's posting threads per worker from ``SMSVERIFY_OUTBOX_CONCURRENCY``.

    Each SMS the outbox hands over is one thread's claim, POST and delete; with a slow
    gateway or a shared store writer, more threads dispatch more SMS a second (what a
    capacity search found to run out first on SQLite: ``docs/capacity.md``).
    """
    if text is None or text.strip() == "":
        return 4
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= OUTBOX_CONCURRENCY_MAX:
        raise ConfigError(
            OUTBOX_CONCURRENCY, f"expected a whole number 1..{OUTBOX_CONCURRENCY_MAX}, got {text!r}"
        )
    return value


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
    from .auth import KeyRing
    from .clients import parse_networks
    from .janitor import Janitor

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
            concurrency=outbox_concurrency(env.get(OUTBOX_CONCURRENCY)),
            timeout_s=timeout,
            lease_s=3 * timeout,  # a claim outlives its attempt, so two never overlap
            on_result=metrics.count_send,
        )
        receipts = env.get(RECEIPTS_URL)
        made: list[Verifier] = []  # the verifier is built below, after its sender

        def callback(verification_id: str, seq: int) -> str:
            token = made[0].receipt_token(verification_id, seq)
            return f"{receipts}/v1/delivery-receipts/{token}"

        sender = GatewaySender(
            policy.code.ttl_s, wake=delivery.wake, callback=callback if receipts else None
        )
        background, depth = [delivery], delivery.depth
    key = hmac_key(env.get(HMAC_KEY)) or read_key_file(key_file(env.get(HMAC_KEY_FILE)))
    verifier = Verifier(policy=policy, store=store, sender=sender, clock=clock, hmac_key=key)
    if spec != "sandbox":
        made.append(verifier)
    keys = env.get(API_KEYS)
    keyring = KeyRing.parse(keys) if keys else KeyRing.from_store(store, clock.now())
    background.append(Janitor(verifier, float(env.get(JANITOR_S) or 60.0)))
    app = create_app(
        verifier,
        keyring=keyring,
        trusted_proxy_header=env.get(PROXY_HEADER) or None,
        trusted_proxies=parse_networks(env.get(TRUSTED_PROXIES)),
        bench=_flag(BENCH),
        background=background,
        outbox_depth=depth,
        access_log=env.get(ACCESS_LOG, "1") != "0",
    )
    if _flag(BENCH):
        from .bare import BareBeside

        return BareBeside(app)  # GET /bench/bare: the baseline without our middleware
    return app


def _prepare_keys(store) -> None:
    """Check ``SMSVERIFY_API_KEYS``, or make one key per scope on the first start."""
    from .auth import KeyRing, generate_keys

    if os.environ.get(API_KEYS):
        KeyRing.parse(os.environ[API_KEYS])
        return
    now = SystemClock().now()
    created = generate_keys(store, now)
    if created is None:
        if not len(KeyRing.from_store(store, now)):
            raise ConfigError(API_KEYS, "the store holds no keys; set SMSVERIFY_API_KEYS")
        return
    pairs = ",".join(f"{scope}={secret}" for scope, secret in created.items())
    print("smsverify serve: created API keys (shown once, only their digests are kept):",
          file=sys.stderr)  # fmt: skip
    for scope, secret in created.items():
        print(f"  {scope}: {secret}", file=sys.stderr)
    print(f'smsverify serve: to choose your own, set SMSVERIFY_API_KEYS="{pairs}"',
          file=sys.stderr)  # fmt: skip


def serve_command(args: argparse.Namespace) -> int:
    """Validate the configuration, print the policy's non-conformities, run uvicorn."""
    policy_path = str(Path(args.policy).resolve()) if args.policy else None
    policy = load_policy(policy_path)
    sender = check_sender(args.sender)
    outbox_concurrency(os.environ.get(OUTBOX_CONCURRENCY))  # once, not in every worker
    if args.workers < 1:
        raise ConfigError("workers", f"expected at least 1, got {args.workers}")
    if args.store.startswith("memory:") and args.workers > 1:
        raise ConfigError("workers", "memory:// is per process; use sqlite or redis for workers")
    store = open_store(args.store)  # a bad URL fails here, once, not in every worker
    try:
        _prepare_keys(store)
    finally:
        store.close()
    if not os.environ.get(HMAC_KEY):
        os.environ[HMAC_KEY_FILE] = str(ensure_key_file(key_file(args.hmac_key_file)))
    if args.trusted_proxies:
        from .clients import parse_networks

        parse_networks(args.trusted_proxies)
        os.environ[TRUSTED_PROXIES] = args.trusted_proxies
    for finding in policy.non_conformities():
        print(f"smsverify serve: policy does not conform: {finding}", file=sys.stderr)

    os.environ[STORE] = args.store
    os.environ[SENDER] = sender
    # Where the gateway reports delivery: this server, as its own loopback address.
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host
    os.environ.setdefault(RECEIPTS_URL, f"http://{host}:{args.port}")
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

"""``create_app(verifier, ...)``: the FastAPI app around one ``Verifier``.

The app is a pure ASGI callable built from its parts, so tests build one on a
``ManualClock`` and a ``MemoryStore`` and the server builds one per worker process from
the environment (``verifier.http.server``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from ..lifecycle import Verifier
from ..senders import SandboxSender
from . import metrics, problems, routes, twilio
from .auth import Authenticate, KeyRing
from .clients import LOOPBACK, Network
from .idempotency import Idempotency
from .middleware import BodyLimit, Observe

BODY_LIMIT = 16 * 1024
VERSION = "1"
PROTECTED = ("/v1/", "/sandbox/")  # /healthz, /metrics and /openapi.json stay open
SIGNED = ("/v1/delivery-receipts/",)  # a gateway's receipts: the path's token is the proof


class Background(Protocol):
    """Work that runs beside the app in each worker, e.g. the outbox delivery."""

    def start(self) -> None: ...
    def stop(self) -> None: ...


@dataclass(frozen=True)
class ServiceConfig:
    """What the handlers need besides the engine."""

    trusted_proxy_header: str | None
    trusted_proxies: Sequence[Network]
    idempotency: Idempotency
    outbox_depth: Callable[[], int] | None


def create_app(
    verifier: Verifier,
    *,
    keyring: KeyRing,
    sandbox: SandboxSender | None = None,
    trusted_proxy_header: str | None = None,
    trusted_proxies: Sequence[Network] = LOOPBACK,
    idempotency_retention_s: float = 86400.0,
    body_limit: int = BODY_LIMIT,
    bench: bool = False,
    background: Iterable[Background] = (),
    outbox_depth: Callable[[], int] | None = None,
    access_log: bool = True,
) -> FastAPI:
    """The HTTP service for ``verifier``; ``keyring`` holds the accepted credentials.

    ``sandbox`` (by default the verifier's sender, if it is a ``SandboxSender``) turns on
    ``GET /sandbox/messages``; ``bench`` adds ``GET /bench/noop``; ``background`` objects
    are started and stopped with the app.
    """
    if sandbox is None and isinstance(verifier.sender, SandboxSender):
        sandbox = verifier.sender
    jobs = list(background)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for job in jobs:
            job.start()
        try:
            yield
        finally:
            for job in reversed(jobs):
                job.stop()

    app = FastAPI(
        title="smsverify",
        version=VERSION,
        summary="SMS phone verification (reference service)",
        lifespan=lifespan,
        redoc_url=None,
        generate_unique_id_function=lambda route: route.name,  # operationId = handler name
    )
    app.state.verifier = verifier
    app.state.sandbox = sandbox
    app.state.keyring = keyring
    app.state.config = ServiceConfig(
        trusted_proxy_header=trusted_proxy_header,
        trusted_proxies=tuple(trusted_proxies),
        idempotency=Idempotency(verifier.store, verifier.clock, idempotency_retention_s),
        outbox_depth=outbox_depth,
    )
    verifier.subscribe(metrics.on_event)
    app.state.twilio_services = twilio.Services(verifier)
    problems.install(app, dialects={twilio.PREFIX: twilio.error_response})
    routers = [routes.router, twilio.router]
    if sandbox is not None:
        routers.append(routes.sandbox_router)
    if bench:
        routers.append(routes.bench_router)
    for router in routers:
        # The routes themselves, not the router: FastAPI matches an included router's
        # routes through a layer of its own, about 60 µs of CPU per request here
        # (docs/benchmarks.md, "HTTP service"). The routers have no prefix to apply.
        app.router.routes.extend(router.routes)
    app.add_middleware(BodyLimit, limit=body_limit)
    # Outside the body limit: an anonymous caller's body is never read.
    app.add_middleware(Authenticate, keyring=keyring, prefixes=PROTECTED, open_prefixes=SIGNED)
    app.add_middleware(twilio.TwilioAuthenticate, keyring=keyring)
    # Added last, so outermost: it times, counts and shields everything inside.
    known = [route for router in routers for route in router.routes]
    app.state.routes = known
    app.add_middleware(Observe, routes=known, access_log=access_log)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document plus the problem body schema every error response points to."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            routes=app.routes,
        )
        document.setdefault("components", {}).setdefault("schemas", {})
        document["components"]["schemas"]["Problem"] = problems.schema()
        app.openapi_schema = document
    return app.openapi_schema

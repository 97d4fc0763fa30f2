"""The HTTP service around the engine: app factory, problem bodies, metrics, logs, server.

Imported only by ``smsverify serve``, the benchmarks and the tests, so ``import verifier``
never loads FastAPI or uvicorn. ``create_app(verifier)`` builds the ASGI app; the server
(``verifier.http.server``) is outside it, as Starlette keeps the server outside the app.

``create_app`` is imported on first use: ``serve`` must set ``PROMETHEUS_MULTIPROC_DIR``
before anything imports ``prometheus_client``, and importing this package comes first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .app import create_app

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

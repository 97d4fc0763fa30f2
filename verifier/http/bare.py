"""A bare FastAPI endpoint beside the service, the benchmark's baseline (``SMSVERIFY_BENCH``).

``GET /bench/bare`` goes to a FastAPI app of its own with one sync route and nothing
else: no middleware, no auth, no metrics, no logs. Every other request goes to the
service unchanged. Both run in the same worker process, under the same uvicorn, so
``bench/http.py`` can compare a flow's requests/s with the bare endpoint's on the very
same server and load generator.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

PATH = "/bench/bare"


def bare_app() -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(PATH)
    def bench_bare() -> dict:
        return {"ok": True}

    return app


class BareBeside:
    """Send ``GET /bench/bare`` to a bare app, everything else (lifespan too) to ``app``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.bare = bare_app()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == PATH:
            await self.bare(scope, receive, send)
        else:
            await self.app(scope, receive, send)

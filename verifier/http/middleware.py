"""ASGI middleware: a body-size cap, and one observer that times, counts, logs and shields.

``Observe`` is the last line of defence: an exception that escapes every handler (a
defect, never an input) becomes a 500 problem body and a log line with the exception's
type only, because Starlette's own error middleware would log its message, which may
quote the request.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import InvalidRequest
from . import logs, metrics
from .problems import InternalError, problem_response

LOG = logs.get("http")
DRAIN_LIMIT = 4 * 1024 * 1024  # read and drop this much of an oversize body, then stop


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 422 ``invalid_request``.

    The body is read here (it is small by then) and replayed to the app; an oversize one
    is drained up to ``DRAIN_LIMIT`` first so the client can read the answer before the
    connection closes.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        too_big = False
        if declared is not None:
            try:
                too_big = int(declared) > self.limit
            except ValueError:
                too_big = True
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.limit:
                too_big = True
                if size > DRAIN_LIMIT:
                    break
            elif not too_big:
                chunks.append(chunk)
        if too_big:
            err = InvalidRequest(f"the request body is larger than {self.limit} bytes")
            scope.setdefault("state", {})["problem_code"] = err.code
            await problem_response(err, {"Connection": "close"})(scope, receive, send)
            return
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class Observe:
    """Count and time each request by route template, log it as one JSON line, shield 5xx."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = (), access_log: bool = True):
        self.app = app
        self.routes = list(routes)
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def watch(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            # The type only, never the exception itself: its message may quote the input.
            LOG.error(
                "unhandled error",
                extra={
                    "event": "error",
                    "error_type": type(exc).__name__,
                    "route": metrics.route_label(self._route(scope)[0]),
                },
            )
            scope.setdefault("state", {})["problem_code"] = InternalError.code
            if not response_started:
                await problem_response(InternalError())(scope, receive, watch)
        finally:
            self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        template, operation = self._route(scope)
        method = scope.get("method", "")
        metrics.observe_request(method, template, status, seconds)
        if operation is not None and status != 405:
            problem = scope.get("state", {}).get("problem_code")
            metrics.observe_outcome(operation, problem or ("ok" if status < 400 else "error"))
        if self.access_log:
            LOG.info(
                "request",
                extra={
                    "event": "request",
                    "method": method if method in metrics.METHODS else "OTHER",
                    "route": metrics.route_label(template),
                    "status": status,
                    "duration_ms": round(seconds * 1000, 3),
                },
            )

    def _route(self, scope: Scope) -> tuple[str | None, str | None]:
        """(route template, operation name) of the route that served or would have served."""
        route = scope.get("route")
        if route is None:
            # Refused before routing (an oversize body): find the route it was meant for.
            route = next((r for r in self.routes if r.matches(scope)[0] == Match.FULL), None)
            if route is None:
                route = next((r for r in self.routes if r.matches(scope)[0] != Match.NONE), None)
        if route is None:
            return None, None
        endpoint = scope.get("endpoint") or getattr(route, "endpoint", None)
        return getattr(route, "path", None), getattr(endpoint, "__name__", None)

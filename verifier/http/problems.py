"""Every error the API answers, as an RFC 9457 ``application/problem+json`` body.

The engine's refusals carry their contract (``VerificationError.to_problem()``), so one
handler maps them all; request-shape errors become ``invalid_request``, unknown routes
``not_found``. The few codes that only the HTTP layer can produce are subclasses here::

    VerificationError                 (verifier.errors: the table of DESIGN.md)
    ├── Unauthenticated               unauthenticated          401 (+ WWW-Authenticate)
    ├── Forbidden                     forbidden                403
    ├── IdempotencyKeyInUse           idempotency_key_in_use   409
    ├── MethodNotAllowed              method_not_allowed       405
    └── InternalError                 internal_error           500 (a defect, never input)
"""

from __future__ import annotations

import json
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from ..errors import ERRORS, InvalidRequest, NotFound, VerificationError

MEDIA_TYPE = "application/problem+json"


REALM = 'Bearer realm="smsverify", Basic realm="smsverify"'


class Unauthenticated(VerificationError):
    code = "unauthenticated"
    http_status = 401
    message = "A valid credential is needed for this request."


class Forbidden(VerificationError):
    code = "forbidden"
    http_status = 403
    message = "This credential may not make this request."


class IdempotencyKeyInUse(VerificationError):
    code = "idempotency_key_in_use"
    http_status = 409
    message = "A request with this Idempotency-Key is still being processed."


class MethodNotAllowed(VerificationError):
    code = "method_not_allowed"
    http_status = 405
    message = "This method is not allowed here."


class UnknownRoute(NotFound):
    """``not_found`` for a path the API does not have (the engine's title names verifications)."""

    message = "Not found."


class InternalError(VerificationError):
    code = "internal_error"
    http_status = 500
    message = "The service could not complete the request."


HTTP_ONLY = (Unauthenticated, Forbidden, IdempotencyKeyInUse, MethodNotAllowed, InternalError)
CODES = [*ERRORS, *(c.code for c in HTTP_ONLY)]


def problem_response(err: VerificationError, headers: dict[str, str] | None = None) -> Response:
    """The problem response for ``err``, with ``Retry-After`` when it has a wait."""
    headers = dict(headers or {})
    if err.http_status == 401:
        headers.setdefault("WWW-Authenticate", REALM)
    if err.retry_after_s is not None:
        headers["Retry-After"] = str(max(0, math.ceil(err.retry_after_s)))
    body = json.dumps(err.to_problem(), separators=(",", ":")).encode()
    return Response(body, status_code=err.http_status, headers=headers, media_type=MEDIA_TYPE)


def respond(request: Request, err: VerificationError, headers: dict | None = None) -> Response:
    """The error response in the dialect of the request's path (``/v2/``: Twilio's JSON)."""
    path = request.scope.get("path", "")
    for prefix, build in getattr(request.app.state, "problem_dialects", {}).items():
        if path.startswith(prefix):
            return build(err, headers)
    return problem_response(err, headers)


def _where(loc: tuple) -> str:
    return ".".join(str(part) for part in loc) or "request"


def describe(exc: RequestValidationError) -> str:
    """Where and what is wrong, without echoing the input (it may hold a number or code)."""
    parts = []
    for error in exc.errors()[:5]:
        if error.get("type") == "json_invalid":
            parts.append("body: not valid JSON")
        else:
            parts.append(f"{_where(tuple(error.get('loc', ())))}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


def _mark(request: Request, err: VerificationError) -> None:
    """Leave the problem code where the metrics middleware can count it."""
    request.scope.setdefault("state", {})["problem_code"] = err.code


async def on_refusal(request: Request, exc: Exception) -> Response:
    err = exc if isinstance(exc, VerificationError) else InternalError()
    _mark(request, err)
    return respond(request, err)


async def on_invalid(request: Request, exc: Exception) -> Response:
    detail = describe(exc) if isinstance(exc, RequestValidationError) else None
    err = InvalidRequest(detail)
    _mark(request, err)
    return respond(request, err)


async def on_http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    headers = getattr(exc, "headers", None) or {}
    if status == 404:
        err: VerificationError = UnknownRoute("no such resource")
    elif status == 405:
        err = MethodNotAllowed()
        headers = {**headers, "Allow": ", ".join(allowed_methods(request))}
    elif 400 <= status < 500:
        # Unreadable bodies, bad content types and the like are all request-shape errors.
        err = InvalidRequest(exc.detail if isinstance(exc.detail, str) else None)
    else:
        err = InternalError()
    _mark(request, err)
    return respond(request, err, headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    scope = {**request.scope, "method": "OPTIONS-PROBE"}
    methods: set[str] = set()
    for route in getattr(request.app.state, "routes", ()):
        if route.matches(scope)[0] != Match.NONE:
            methods |= set(route.methods or ())
    return sorted(methods)


def install(app: FastAPI, dialects: dict | None = None) -> None:
    """Route every error the app can raise to a problem body.

    ``dialects`` maps a path prefix to the builder of its own error responses (the
    Twilio-shaped ``/v2`` answers Twilio's bodies, not RFC 9457 problems).
    """
    app.state.problem_dialects = dict(dialects or {})
    app.add_exception_handler(VerificationError, on_refusal)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(HTTPException, on_http_error)


def schema() -> dict:
    """The OpenAPI schema of a problem body."""
    from .schemas import Problem

    body = Problem.model_json_schema()
    body["properties"]["code"]["enum"] = CODES
    return body


def responses(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI ``responses`` entries for the problem statuses an operation can answer.

    Every operation that lists its problems is behind a credential, so 401 and 403 are
    always among them.
    """
    out: dict[int | str, dict] = {}
    for status in sorted({401, 403, *statuses}):
        entry: dict = {
            "description": ", ".join(c.code for c in _classes_for(status)) or "problem",
            "content": {MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        if status == 401:
            entry["headers"] = {
                "WWW-Authenticate": {
                    "description": "the schemes accepted",
                    "required": True,
                    "schema": {"type": "string"},
                }
            }
        if status in (423, 429):
            entry["headers"] = {
                "Retry-After": {
                    "description": "seconds to wait, when the refusal has a wait",
                    "required": False,
                    "schema": {"type": "string", "pattern": "^[0-9]+$"},
                }
            }
        out[status] = entry
    return out


def _classes_for(status: int) -> list[type[VerificationError]]:
    return [c for c in (*ERRORS.values(), *HTTP_ONLY) if c.http_status == status]

"""Credentials: who may call the API, and with which scope.

Keys are ``scope=secret`` pairs. ``verify`` covers the checkout flow (start, resend,
check, get, cancel, consume, number lookup, binding an approved verification, reading an
account's number masked); ``admin`` covers everything ``verify`` does plus what a shop's
support staff needs (unmasked numbers, release, disputes, the sandbox outbox).

A secret is sent as ``Authorization: Bearer SECRET`` or as HTTP Basic with SECRET as the
password (the user name is ignored, so SDKs that insist on one still work). Only a
SHA-256 digest of each secret is held, in memory or in the store; secrets are random
and long, so a fast digest is enough, and each presented secret is compared against
every known digest with ``hmac.compare_digest`` so that the time taken does not say which
one, if any, was close.

:class:`Authenticate` (ASGI middleware) answers 401 before any body is read; the route
dependency :func:`require` answers 403 for the wrong scope and declares both schemes in
the OpenAPI document.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import Request, Security
from fastapi.security.http import HTTPBase
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import keys
from ..errors import ConfigError
from ..store import Store
from .problems import Forbidden, Unauthenticated, problem_response

SCOPES = ("verify", "admin")
ENV = "SMSVERIFY_API_KEYS"
STORE_PREFIX = keys.API_KEYS
MAX_SECRET = 512
MIN_SECRET = 16


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def allows(granted: str, needed: str) -> bool:
    """``admin`` implies ``verify``."""
    return granted == needed or granted == "admin"


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated caller: its scope and a short, stable id of its key (not the key)."""

    scope: str
    key_id: str

    @property
    def admin(self) -> bool:
        return self.scope == "admin"


class KeyRing:
    """The digests of every accepted secret, each with its scope."""

    def __init__(self, entries: Iterable[tuple[str, str]] = ()) -> None:
        self._entries: list[tuple[bytes, str]] = []
        for hexdigest, scope in entries:
            if scope not in SCOPES:
                raise ConfigError(ENV, f"unknown scope {scope!r} (known: {', '.join(SCOPES)})")
            self._entries.append((bytes.fromhex(hexdigest), scope))

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """Read ``verify=SECRET1,admin=SECRET2`` (several keys per scope allowed)."""
        entries = []
        for i, item in enumerate(part.strip() for part in text.split(",")):
            if not item:
                continue
            scope, sep, secret = item.partition("=")
            scope = scope.strip()
            if not sep or not secret:
                raise ConfigError(ENV, f"entry {i + 1} is not scope=secret")
            if scope not in SCOPES:
                raise ConfigError(
                    ENV, f"entry {i + 1}: unknown scope {scope!r} (known: {', '.join(SCOPES)})"
                )
            if not MIN_SECRET <= len(secret) <= MAX_SECRET:
                raise ConfigError(
                    ENV, f"entry {i + 1}: a secret needs {MIN_SECRET}..{MAX_SECRET} characters"
                )
            entries.append((digest(secret), scope))
        if not entries:
            raise ConfigError(ENV, "no keys given")
        return cls(entries)

    @classmethod
    def from_store(cls, store: Store, now: float) -> KeyRing:
        """The digests kept in ``store`` by :func:`generate_keys`."""
        rows = store.scan(STORE_PREFIX, now, limit=10_000)
        return cls((key[len(STORE_PREFIX) :], value["scope"]) for key, value in rows)

    def __len__(self) -> int:
        return len(self._entries)

    def scope_of(self, secret: str) -> str | None:
        """The scope of ``secret``, or None; constant time over every known key."""
        if not isinstance(secret, str) or not 0 < len(secret) <= MAX_SECRET:
            return None
        presented = bytes.fromhex(digest(secret))
        found = None
        for known, scope in self._entries:
            if hmac.compare_digest(known, presented) and found is None:
                found = scope
        return found

    def identify(self, secret: str) -> Caller | None:
        scope = self.scope_of(secret)
        return None if scope is None else Caller(scope, digest(secret)[:12])


def generate_keys(store: Store, now: float) -> dict[str, str] | None:
    """One new secret per scope, their digests kept in ``store``; None if it holds keys.

    Runs in one transaction, so two processes starting at once cannot both create keys.
    """
    created = {scope: secrets.token_urlsafe(24) for scope in SCOPES}
    marker = STORE_PREFIX.rstrip(":")

    def op(tx):
        if tx.get(marker) is not None:
            return None
        tx.put(marker, {"created_at": tx.now})
        for scope, secret in created.items():
            tx.put(keys.api_key(digest(secret)), {"scope": scope, "created_at": tx.now})
        return created

    return store.transact(op, now)


def secret_from_header(value: str | None) -> str | None:
    """The secret in an ``Authorization`` header (Bearer, or Basic's password), or None."""
    if not value:
        return None
    kind, _, rest = value.strip().partition(" ")
    kind, rest = kind.lower(), rest.strip()
    if kind == "bearer":
        return rest or None
    if kind == "basic":
        try:
            decoded = base64.b64decode(rest, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        _, sep, password = decoded.partition(":")
        return password if sep and password else None
    return None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return value.decode("latin-1")
    return None


class Authenticate:
    """Answer 401 ``unauthenticated`` for protected paths without a known credential.

    Runs before routing and before any body is read, so an anonymous caller learns
    nothing about the request it sent. The caller is left in ``scope["state"]``.
    """

    def __init__(
        self,
        app: ASGIApp,
        keyring: KeyRing,
        prefixes: tuple[str, ...],
        open_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.keyring = keyring
        self.prefixes = prefixes
        self.open_prefixes = open_prefixes  # routes that carry their own signed token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] == "http"
            and path.startswith(self.prefixes)
            and not (self.open_prefixes and path.startswith(self.open_prefixes))
        ):
            secret = secret_from_header(_header(scope, b"authorization"))
            caller = self.keyring.identify(secret) if secret else None
            if caller is None:
                err = Unauthenticated()
                scope.setdefault("state", {})["problem_code"] = err.code
                response = problem_response(err)
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["caller"] = caller
        await self.app(scope, receive, send)


class _Declared(HTTPBase):
    """Declares a scheme in the OpenAPI document; :class:`Authenticate` does the work."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


BEARER = _Declared(scheme="bearer", scheme_name="bearer", auto_error=False)
BASIC = _Declared(
    scheme="basic", scheme_name="basic", auto_error=False, description="password = the secret"
)


def caller_of(request: Request) -> Caller:
    caller = request.scope.get("state", {}).get("caller")
    if caller is None:  # a protected route mounted outside the middleware's prefixes
        raise Unauthenticated()
    return caller


def require(needed: str):
    """A route dependency: the caller must hold ``needed`` (or ``admin``)."""
    if needed not in SCOPES:
        raise ValueError(f"unknown scope {needed!r}")

    # A coroutine, so FastAPI runs it on the event loop: it does no I/O, and a sync
    # dependency would cost a hop to the thread pool on every request.
    async def dependency(
        request: Request, _bearer: None = Security(BEARER), _basic: None = Security(BASIC)
    ) -> Caller:
        caller = caller_of(request)
        if not allows(caller.scope, needed):
            raise Forbidden(f"this needs the {needed} scope")
        return caller

    dependency.__name__ = f"require_{needed}"
    return dependency

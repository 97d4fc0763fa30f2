"""The credentials the ``twilio`` SDK sends, mapped onto the keys of ``/v1``.

The SDK sends HTTP Basic with an account SID and auth token, or an API key SID and
secret. Here the user must look like one (``AC`` or ``SK`` and 32 hex digits) and the
password must be a ``verify`` or ``admin`` secret of the :class:`KeyRing`; anything else
answers Twilio's 401 body (20003) before routing and before the body is read.
"""

from __future__ import annotations

import base64
import binascii
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from ..auth import KeyRing
from ..problems import Unauthenticated
from . import errors

USER = re.compile(r"^(AC|SK)[0-9a-fA-F]{32}$")
PREFIX = "/v2/"


def basic(header: str | None) -> tuple[str, str] | None:
    """The (user, password) of a Basic ``Authorization`` header, or None."""
    if not header:
        return None
    kind, _, rest = header.strip().partition(" ")
    if kind.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class TwilioAuthenticate:
    """ASGI middleware: ``/v2/`` needs an ``AC``/``SK`` user and a known secret."""

    def __init__(self, app: ASGIApp, keyring: KeyRing) -> None:
        self.app = app
        self.keyring = keyring

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            header = None
            for key, value in scope.get("headers") or ():
                if key == b"authorization":
                    header = value.decode("latin-1")
                    break
            pair = basic(header)
            caller = None
            if pair is not None and USER.match(pair[0]):
                caller = self.keyring.identify(pair[1])
            state = scope.setdefault("state", {})
            if caller is None:
                err = Unauthenticated()
                state["problem_code"] = err.code
                await errors.response(err)(scope, receive, send)
                return
            state["caller"] = caller
            state["twilio_user"] = pair[0]
        await self.app(scope, receive, send)

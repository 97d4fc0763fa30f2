"""Who is calling: the client IP the velocity limits and detectors see, and the device id.

The IP is the connection's peer, or, when the operator names a trusted proxy header
(``--trusted-proxy-header X-Forwarded-For``), the right-most address in that header:
the one the trusted proxy itself saw. Any other header is ignored, since a caller can
write whatever it likes in it. A ``client.ip`` in the body is used only when the
service is told that only trusted backends reach it (``client_ip_from_body``).
"""

from __future__ import annotations

import ipaddress
from typing import Protocol

from fastapi import Request

from ..errors import InvalidRequest
from .schemas import Client


class ClientConfig(Protocol):
    trusted_proxy_header: str | None
    client_ip_from_body: bool


def _address(text: str) -> str | None:
    """The normalised IP address in ``text`` (an IPv6 may come in brackets), or None."""
    text = text.strip().strip('"')
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]  # IPv4 with a port
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def from_header(name: str, value: str) -> str | None:
    """The right-most address of an ``X-Forwarded-For``-style list or a ``Forwarded`` header."""
    last = value.split(",")[-1]
    if name.lower() == "forwarded":
        for pair in last.split(";"):
            key, _, val = pair.strip().partition("=")
            if key.lower() == "for":
                return _address(val)
        return None
    return _address(last)


def peer_ip(request: Request, trusted_proxy_header: str | None) -> str | None:
    if trusted_proxy_header:
        value = request.headers.get(trusted_proxy_header)
        if value:
            found = from_header(trusted_proxy_header, value)
            if found is not None:
                return found
    return request.client.host if request.client else None


def resolve(
    request: Request, client: Client | None, config: ClientConfig
) -> tuple[str | None, str | None]:
    """(client IP, device id) for the engine."""
    device = client.device_id if client else None
    if config.client_ip_from_body and client is not None and client.ip is not None:
        ip = _address(client.ip)
        if ip is None:
            raise InvalidRequest("client.ip must be an IP address")
        return ip, device
    return peer_ip(request, config.trusted_proxy_header), device

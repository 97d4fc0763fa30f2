"""Who is calling: the client IP the velocity limits and detectors see, and the device id.

The API is called by a shop's back end with a credential, not by the buyer's browser,
so the address of the connection is the shop's, not the buyer's. The order is:

1. ``client.ip`` in the body: the back end passes its buyer's address (the normal case);
2. with ``--trusted-proxy-header`` (``X-Forwarded-For`` or ``Forwarded``), the right-most
   address in that header that is not one of the trusted proxies (RFC 9110 §5.3: every
   field line of the header counts, in order; RFC 7239 for ``Forwarded``), read only when
   the connection itself comes from a trusted proxy;
3. otherwise the credential: every request of one key shares one per-IP budget, so a
   shop that passes no buyer address should pass one (``docs/http.md``).

The engine keys IPv6 limits by /64 (``verifier.limits``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Protocol

from fastapi import Request

from ..errors import ConfigError, InvalidRequest
from .auth import Caller
from .schemas import Client

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


class ClientConfig(Protocol):
    trusted_proxy_header: str | None
    trusted_proxies: Sequence[Network]


def parse_networks(text: str | None) -> tuple[Network, ...]:
    """``10.0.0.0/8,::1`` as networks; empty or None: loopback only."""
    if not text:
        return LOOPBACK
    out = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError("trusted-proxies", f"{item!r} is not an address or network") from None
    return tuple(out)


def address(text: str) -> str | None:
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


def _forwarded_for(value: str) -> list[str | None]:
    """The ``for=`` of every element of an RFC 7239 ``Forwarded`` value, in order."""
    found: list[str | None] = []
    for element in value.split(","):
        node = None
        for pair in element.split(";"):
            key, _, val = pair.strip().partition("=")
            if key.strip().lower() == "for":
                node = address(val)
        found.append(node)
    return found


def chain(name: str, lines: Iterable[str]) -> list[str | None]:
    """Every address of every field line of the header, left to right (None: unreadable)."""
    out: list[str | None] = []
    for line in lines:
        if name.lower() == "forwarded":
            out.extend(_forwarded_for(line))
        else:
            out.extend(address(item) for item in line.split(","))
    return out


def _trusted(addr: str | None, networks: Sequence[Network]) -> bool:
    if addr is None:
        return False
    ip = ipaddress.ip_address(addr)
    return any(ip in net for net in networks)


def rightmost_untrusted(hops: list[str | None], networks: Sequence[Network]) -> str | None:
    """Walk from the right past trusted proxies; the first other hop is the client.

    An unreadable hop stops the walk (nothing left of it can be believed).
    """
    for hop in reversed(hops):
        if hop is None:
            return None
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else None


def forwarded_ip(request: Request, config: ClientConfig) -> str | None:
    """The client address the trusted proxy header names, or None."""
    name = config.trusted_proxy_header
    if not name:
        return None
    peer = address(request.client.host) if request.client else None
    if not _trusted(peer, config.trusted_proxies):
        return None  # only a trusted proxy may speak for someone else
    lines = request.headers.getlist(name)
    if not lines:
        return None
    return rightmost_untrusted(chain(name, lines), config.trusted_proxies)


def resolve(
    request: Request, client: Client | None, config: ClientConfig, caller: Caller
) -> tuple[str, str | None]:
    """(client IP or credential bucket, device id) for the engine."""
    device = client.device_id if client else None
    if client is not None and client.ip is not None:
        ip = address(client.ip)
        if ip is None:
            raise InvalidRequest("client.ip must be an IP address")
        return ip, device
    forwarded = forwarded_ip(request, config)
    if forwarded is not None:
        return forwarded, device
    return f"key:{caller.key_id}", device

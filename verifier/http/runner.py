"""Running the app under uvicorn, one process or a supervisor and ``workers`` processes.

This is ``uvicorn.run`` with one change: the listening socket that the workers share has
``TCP_NODELAY`` and names its protocol. uvicorn creates it as a bare stream socket, so
asyncio does not turn Nagle's algorithm off on the connections the workers accept, and
each response then waits for the client's delayed ACK (measured here: a no-op request
took 44 ms with two workers against 0.7 ms with one).
"""

from __future__ import annotations

import inspect
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

from .logs import uvicorn_config

FACTORY = "verifier.http.server:app_from_env"


class Config(uvicorn.Config):
    def bind_socket(self) -> socket.socket:
        sock = super().bind_socket()
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tcp = socket.socket(sock.family, sock.type, socket.IPPROTO_TCP, fileno=sock.detach())
        tcp.set_inheritable(True)
        return tcp


def run(host: str, port: int, workers: int) -> None:
    config = Config(
        FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # URLs carry numbers; the app logs route templates instead
        log_config=uvicorn_config(),
        proxy_headers=False,  # only --trusted-proxy-header may name the client
        server_header=False,
    )
    server = uvicorn.Server(config)
    if workers <= 1:
        server.run()
        return
    sockets = [config.bind_socket()]
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.36
        Multiprocess(config, target=server.run, sockets=sockets).run()
    else:
        Multiprocess(config, sockets=sockets).run()

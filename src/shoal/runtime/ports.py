"""Free loopback ports for instances: the port a process listens on or a container publishes.

The kernel picks a free port (bind to port 0), and ``PortPool`` remembers what it has handed
out so that two instances started at once never get the same one before either binds it.
"""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class PortPool:
    def __init__(self, host: str = LOOPBACK) -> None:
        self.host = host
        self._taken: set[int] = set()

    def take(self) -> int:
        for _ in range(100):
            port = free_port(self.host)
            if port not in self._taken:
                self._taken.add(port)
                return port
        raise OSError("no free loopback port")

    def release(self, port: int) -> None:
        self._taken.discard(port)

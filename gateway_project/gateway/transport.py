"""Kept-alive upstream connections: one `http.client` connection per thread and upstream copy.

Measured on this machine (docs/architecture.md, bench/README.md): per upstream GET, `requests`
cost 0.53 ms of CPU, urllib3 0.18 ms and a kept-alive `http.client` connection 0.10 ms. The
gateway's server runs a fixed set of threads and each thread serves one request at a time, so a
connection per thread needs no pool locking.
"""

import http.client
import select
import socket
import threading


class UpstreamConnection(http.client.HTTPConnection):
    """An HTTP/1.1 connection with separate connect and read timeouts."""

    def __init__(self, host: str, port: int, connect_timeout: float, read_timeout: float):
        super().__init__(host, port, timeout=connect_timeout)
        self.read_timeout = read_timeout
        self.used = False

    def connect(self):
        super().connect()
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(self.read_timeout)
        self.used = False

    def is_dropped(self) -> bool:
        """Return True if the peer closed this idle connection (readable means EOF or junk)."""
        if self.sock is None:
            return False
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)


class ConnectionCache(threading.local):
    """Per-thread connections, keyed by (host, port)."""

    def __init__(self):
        self.connections: dict[tuple[str, int], UpstreamConnection] = {}

    def get(self, host: str, port: int, connect_timeout: float, read_timeout: float):
        conn = self.connections.get((host, port))
        if conn is not None and conn.is_dropped():
            conn.close()
        if conn is None:
            conn = UpstreamConnection(host, port, connect_timeout, read_timeout)
            self.connections[(host, port)] = conn
        return conn

    def discard(self, host: str, port: int) -> None:
        conn = self.connections.pop((host, port), None)
        if conn is not None:
            conn.close()

"""Idle and slow clients held open against a server, from one background thread.

    with SlowClients("127.0.0.1", port, idle=500, slow=50, token=access) as holders:
        holders.wait_connected(timeout=10)
        ... measure ...
        print(holders.counts())

Plain non-blocking sockets on one `selectors` loop (not one thread per client):
- an *idle* client connects and sends nothing (even-numbered ones) or only a request line and no
  end of headers (odd-numbered ones: `GET <path> HTTP/1.1` and a Host line);
- a *slow* client sends complete `POST /orders` headers with `Content-Length: 100000` and a
  bearer token, then one byte of the body every `trickle_seconds` (never the whole body).

A client the server closes or answers (a 408 once its body timeout runs out, a 400...) is counted
and opened again after a short pause, so the pressure stays on for the whole measurement.
`counts()` says how many of each are connected right now (TCP handshake done, not closed since):
that is what the benchmark reports at the start and end of each measured run.
"""

import errno
import resource
import selectors
import socket
import threading
import time

BODY_LENGTH = 100_000
REOPEN_AFTER = 0.2  # seconds between a client's close and its next connect


def raise_open_files(wanted: int = 8192) -> int:
    """Raise this process's soft RLIMIT_NOFILE toward `wanted` (capped by the hard limit).

    The stack's processes are started from here, so they inherit it. Returns the soft limit.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


class _Client:
    __slots__ = ("kind", "index", "sock", "state", "reopen_at")

    def __init__(self, kind: str, index: int):
        self.kind, self.index = kind, index
        self.sock: socket.socket | None = None
        self.state = "closed"  # closed -> connecting -> open -> closed ...
        self.reopen_at = 0.0


class SlowClients:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        idle: int = 500,
        slow: int = 50,
        token: str | None = None,
        idle_path: str = "/restaurants?page=1",
        slow_path: str = "/orders",
        trickle_seconds: float = 1.0,
    ):
        self.address = (host, port)
        self.host_header = f"{host}:{port}"
        self.idle_path, self.slow_path = idle_path, slow_path
        self.token = token
        self.trickle_seconds = trickle_seconds
        self.clients = [_Client("idle", n) for n in range(idle)] + [
            _Client("slow", n) for n in range(slow)
        ]
        self.wanted = {"idle": idle, "slow": slow}
        self.selector = selectors.DefaultSelector()
        self.lock = threading.Lock()
        self.connected = {"idle": 0, "slow": 0}
        self.closed_by_server = {"idle": 0, "slow": 0}
        self.connect_failures = 0
        self.answers: dict[str, int] = {}  # status code of what the server answered -> count
        self.body_bytes_sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)

    # -- control (any thread) --------------------------------------------------------------------
    def start(self) -> "SlowClients":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def __enter__(self) -> "SlowClients":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def counts(self) -> dict:
        """A snapshot: connected now, of how many wanted, and what happened so far."""
        with self.lock:
            return {
                "idle_connected": self.connected["idle"],
                "idle_wanted": self.wanted["idle"],
                "slow_connected": self.connected["slow"],
                "slow_wanted": self.wanted["slow"],
                "idle_closed_by_server": self.closed_by_server["idle"],
                "slow_closed_by_server": self.closed_by_server["slow"],
                "connect_failures": self.connect_failures,
                "answers": dict(self.answers),
                "body_bytes_sent": self.body_bytes_sent,
            }

    def wait_connected(self, timeout: float = 10) -> dict:
        """Wait until every client is connected (or `timeout`); return counts()."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snapshot = self.counts()
            if (
                snapshot["idle_connected"] == self.wanted["idle"]
                and snapshot["slow_connected"] == self.wanted["slow"]
            ):
                return snapshot
            time.sleep(0.05)
        return self.counts()

    # -- the loop (its own thread) ---------------------------------------------------------------
    def _first_bytes(self, client: _Client) -> bytes:
        if client.kind == "slow":
            auth = f"Authorization: Bearer {self.token}\r\n" if self.token else ""
            return (
                f"POST {self.slow_path} HTTP/1.1\r\nHost: {self.host_header}\r\n{auth}"
                f"Content-Type: application/json\r\nContent-Length: {BODY_LENGTH}\r\n\r\n"
            ).encode()
        if client.index % 2:
            return f"GET {self.idle_path} HTTP/1.1\r\nHost: {self.host_header}\r\n".encode()
        return b""

    def _connect(self, client: _Client) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        client.sock = sock
        client.state = "connecting"
        err = sock.connect_ex(self.address)
        if err not in (0, errno.EINPROGRESS):
            self._lost(client, failure=True)
            return
        self.selector.register(sock, selectors.EVENT_WRITE, client)

    def _close(self, client: _Client) -> None:
        if client.sock is not None:
            try:
                self.selector.unregister(client.sock)
            except (KeyError, ValueError):
                pass
            client.sock.close()
            client.sock = None

    def _lost(self, client: _Client, *, failure: bool = False, answer: bytes = b"") -> None:
        """Close `client`'s socket; count why; schedule its reconnect."""
        self._close(client)
        with self.lock:
            if client.state == "open":
                self.connected[client.kind] -= 1
                self.closed_by_server[client.kind] += 1
            if failure:
                self.connect_failures += 1
            if answer:
                parts = answer.split(b" ", 2)
                code = parts[1].decode(errors="replace") if len(parts) > 1 else "?"
                self.answers[code] = self.answers.get(code, 0) + 1
        client.state = "closed"
        client.reopen_at = time.monotonic() + REOPEN_AFTER

    def _opened(self, client: _Client) -> None:
        if client.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self._lost(client, failure=True)
            return
        try:
            first = self._first_bytes(client)
            if first:
                client.sock.send(first)  # a few hundred bytes: fits the empty send buffer
        except OSError:
            self._lost(client, failure=True)
            return
        client.state = "open"
        with self.lock:
            self.connected[client.kind] += 1
        self.selector.modify(client.sock, selectors.EVENT_READ, client)

    def _readable(self, client: _Client) -> None:
        try:
            data = client.sock.recv(4096)
        except OSError:
            data = b""
        # Closed (b"") or answered (408, 400...): either way this client is no longer held.
        self._lost(client, answer=data)

    def _trickle(self) -> None:
        sent = 0
        for client in self.clients:
            if client.kind == "slow" and client.state == "open":
                try:
                    sent += client.sock.send(b" ")  # whitespace: valid JSON padding
                except BlockingIOError:
                    pass
                except OSError:
                    self._lost(client)
        with self.lock:
            self.body_bytes_sent += sent

    def _run(self) -> None:
        next_trickle = time.monotonic() + self.trickle_seconds
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                for client in self.clients:
                    if client.state == "closed" and now >= client.reopen_at:
                        self._connect(client)
                for key, _ in self.selector.select(timeout=0.1):
                    client = key.data
                    if client.state == "connecting":
                        self._opened(client)
                    elif client.state == "open":
                        self._readable(client)
                if self.trickle_seconds and time.monotonic() >= next_trickle:
                    self._trickle()
                    next_trickle += self.trickle_seconds
        finally:
            for client in self.clients:
                self._close(client)
                if client.state == "open":
                    with self.lock:
                        self.connected[client.kind] -= 1
                client.state = "closed"
            self.selector.close()

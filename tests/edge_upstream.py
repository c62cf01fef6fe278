"""Fake upstreams for the gateway's edge tests: an HTTP server that records every request exactly
as it arrived, and a WebSocket echo server that counts connections and records their headers.

Both run in threads of the test process, so a test can look at what the gateway really sent: the
raw request target (never decoded), every header line (underscores and duplicates included) and
the body after the upstream's own framing, which is how a smuggled second request would show up.
"""

import asyncio
import http.client
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from websockets.asyncio.server import serve


@dataclass
class Recorded:
    """One request as the upstream parsed it."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    request_line: str

    def header(self, name: str) -> list[str]:
        """Return every value of header `name` (case-insensitive), in order."""
        return [v for k, v in self.headers if k.lower() == name.lower()]


@dataclass
class Unparsed:
    """Bytes the upstream could not read as a request (e.g. the tail of a mis-framed body)."""

    request_line: str
    error: str


# http.client (which http.server parses headers with) refuses more than 100 header lines and
# lines over 64 KiB; the gateway may forward more (granian reads up to its buffer size), and the
# recorder must record what arrives, not refuse it.
http.client._MAXHEADERS = max(http.client._MAXHEADERS, 1000)
http.client._MAXLINE = max(http.client._MAXLINE, 1024 * 1024)


class _RecordingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # a kept-alive connection the gateway forgot does not hold a thread forever

    def handle_one_request(self):
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():  # it answered an error (send_error) and closes
                return
            body = self.read_body()
            if body is None:
                return
            self.server.recorder.record(
                Recorded(
                    self.command,
                    self.path,
                    list(self.headers.items()),
                    body,
                    self.requestline,
                )
            )
            self.answer(json.dumps({"upstream": "recorder", "path": self.path}).encode())
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def send_error(self, code, message=None, explain=None):
        self.server.recorder.unparsed.append(
            Unparsed(self.raw_requestline.decode("latin-1"), f"{code} {message}")
        )
        super().send_error(code, message, explain)

    def read_body(self) -> bytes | None:
        encodings = self.headers.get_all("Transfer-Encoding") or []
        lengths = self.headers.get_all("Content-Length") or []
        if encodings:
            if len(encodings) != 1 or encodings[0].strip().lower() != "chunked" or lengths:
                return self.refuse(f"ambiguous framing TE={encodings} CL={lengths}")
            chunks = []
            while True:
                size_line = self.rfile.readline(1024).split(b";")[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError:
                    return self.refuse(f"bad chunk size {size_line!r}")
                if size == 0:
                    while self.rfile.readline(65537).strip():  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
        if len(lengths) > 1 or (lengths and not lengths[0].strip().isdigit()):
            return self.refuse(f"bad Content-Length {lengths}")
        return self.rfile.read(int(lengths[0])) if lengths else b""

    def refuse(self, error: str) -> None:
        self.server.recorder.unparsed.append(Unparsed(self.requestline, error))
        self.close_connection = True
        self.send_response(400)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()
        return None

    def answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


class RecordingUpstream:
    """A threaded HTTP/1.1 server answering 200 JSON to anything and keeping what it received."""

    def __init__(self):
        self.requests: list[Recorded] = []
        self.unparsed: list[Unparsed] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _RecordingHandler)
        self.server.daemon_threads = True
        self.server.recorder = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def record(self, request: Recorded) -> None:
        with self.lock:
            self.requests.append(request)

    def mark(self) -> int:
        """Return a position to pass to `since`."""
        with self.lock:
            return len(self.requests)

    def since(self, mark: int) -> list[Recorded]:
        """Return the requests received after `mark`, less the gateway's own health probes."""
        with self.lock:
            return [r for r in self.requests[mark:] if r.target not in ("/health", "/ready")]

    def start(self) -> "RecordingUpstream":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class WebSocketSeen:
    path: str
    headers: list[tuple[str, str]]


class WebSocketEcho:
    """A WebSocket server (websockets' asyncio server) that sends back every message it gets."""

    def __init__(self):
        self.connections: list[WebSocketSeen] = []
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _seen(self, connection, request):
        # Called for every handshake the server reads, so a connection counts even if it fails.
        self.connections.append(WebSocketSeen(request.path, list(request.headers.raw_items())))
        return None

    async def _echo(self, connection):
        async for message in connection:
            await connection.send(message)

    async def _start(self):
        self.server = await serve(
            self._echo,
            "127.0.0.1",
            0,
            process_request=self._seen,
            ping_interval=None,
            backlog=1024,  # bursts of handshakes, as the real live service takes them
        )
        self.port = self.server.sockets[0].getsockname()[1]

    def start(self) -> "WebSocketEcho":
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def stop(self) -> None:
        async def close():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

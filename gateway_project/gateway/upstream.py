"""The gateway's HTTP/1.1 client for its upstream calls: kept-alive pooled connections, httptools.

Why not aiohttp's `ClientSession`, which served this path before: measured through the whole
gateway (bench/README.md, "The gateway's own upstream client"), this client halves the gateway's
CPU per forwarded request (0.41-0.49 ms against 0.19-0.23 ms behind a static upstream; 1.02-1.06
against 0.56-0.64 ms in front of the catalog), and the gateway's figure is its hot path and a
target of its own. What the gateway asks of an upstream client is narrow, which is what makes
this small: our own services, one request at a time per connection, a body read whole before
forwarding, an answer relayed as it comes. The part that needs care, parsing the answer, is
httptools (llhttp, the parser of Node.js, as in uvicorn); framing, pooling and timeouts are here.
WebSockets still go through aiohttp (gateway.websocket).

What a caller gets:
- `UpstreamPool.request()` returns an `Answer` once the answer's head has arrived; its body is
  read whole with `Answer.read()` or in chunks with `Answer.chunks()` (the connection stops
  reading while a chunk waits to be taken, so a slow client never makes the gateway buffer more
  than `HIGH_WATER` bytes);
- exceptions say what happened, so that the caller can tell a broken copy from a slow one:
  `ConnectFailed` (nothing was sent), `Dropped` (closed before any answer), `ReadTimedOut` (no
  byte for `read_timeout` seconds), `BadAnswer` (not HTTP/1.1), `BrokenAnswer` (the body was cut
  off or stalled);
- a connection is reused only after an answer read to its end that allows it (HTTP/1.1 without
  `Connection: close`); anything else, a HEAD answer included (llhttp cannot be told that an
  answer has no body), closes it;
- an answer whose head holds more than `MAX_HEADERS` headers or `MAX_HEAD_BYTES` bytes (heads
  of 1xx answers included), or that comes after more than `MAX_INFORMATIONAL` 1xx answers, is a
  `BadAnswer`, however slowly it arrives.
"""

import asyncio
import collections

import httptools

HIGH_WATER = 256 * 1024
# An answer's head is refused (BadAnswer, so 502) past these, as nginx refuses an upstream's head
# larger than its proxy buffer: llhttp itself sets no limit, and a head is buffered whole.
MAX_HEADERS = 100
MAX_HEAD_BYTES = 64 * 1024
MAX_INFORMATIONAL = 8  # 1xx answers before the answer (100 Continue, 103 Early Hints...)
SENDS_BODY = frozenset({"POST", "PUT", "PATCH"})


class UpstreamError(Exception):
    """The upstream call failed; the subclass says how."""


class ConnectFailed(UpstreamError):
    """No connection could be made (refused, unreachable, timed out): nothing was sent."""


class Dropped(UpstreamError):
    """The connection closed before any answer arrived."""


class ReadTimedOut(UpstreamError):
    """No byte of the answer arrived for the read timeout."""


class BadAnswer(UpstreamError):
    """What arrived is not an HTTP/1.1 answer."""


class BrokenAnswer(UpstreamError):
    """The answer's body was cut off, malformed or stalled after its head."""


class Answer:
    """One upstream answer: status and headers (names lower-cased bytes), then its body."""

    __slots__ = ("status", "headers", "content_length", "_connection", "_exchange")

    def __init__(self, connection: "Connection", status: int, headers: list, content_length):
        self.status = status
        self.headers: list[tuple[bytes, bytes]] = headers
        self.content_length: int | None = content_length
        self._connection = connection
        self._exchange = connection.exchanges

    async def read(self) -> bytes:
        """Return the whole body (raises BrokenAnswer or ReadTimedOut).

        A loop of its own rather than `chunks()`: most answers are whole by the time their head
        is read, and this path runs for nearly every forwarded request.
        """
        connection = self._connection
        try:
            parts = connection.take()
            while not connection.complete:
                await connection.wait()
                parts += connection.take()
            return b"".join(parts)
        finally:
            self.close()

    async def chunks(self):
        """Yield the body as it arrives (raises BrokenAnswer or ReadTimedOut)."""
        connection = self._connection
        try:
            while True:
                for chunk in connection.take():
                    yield chunk
                if connection.complete:
                    return
                await connection.wait()
        finally:
            self.close()

    def close(self) -> None:
        """Give the connection up, read or not (it is reused only after a complete answer)."""
        self._connection.release(self._exchange)


class Connection(asyncio.Protocol):
    """One kept-alive connection to an upstream, carrying one request at a time."""

    def __init__(self, pool: "HostPool"):
        self.pool = pool
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self.exchanges = 0  # requests sent on it: an Answer releases only its own
        self.reset()

    def reset(self) -> None:
        self.busy = False
        self.head_waiter: asyncio.Future | None = None
        self.body_waiter: asyncio.Future | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        # Bytes of the heads so far (informational ones too): those read while a head is
        # unfinished, and those of the headers parsed (a whole head can come in one read).
        self.head_bytes = 0
        self.header_bytes = 0
        self.heads = 0
        self.refusal = ""  # why a callback stopped the parser (httptools' error does not say)
        self.status = 0
        self.content_length: int | None = None
        self.informational = False
        self.head_done = False
        self.complete = False
        self.until_close = False
        self.head_request = False
        self.reusable = False
        self.chunks: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.error: UpstreamError | None = None
        self.last_read = 0.0
        self.read_timeout = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.busy or self.complete:
            # Bytes nobody asked for: the connection cannot be trusted with another request.
            self.fail(BadAnswer("the upstream sent bytes outside an answer"))
            return
        self.last_read = self.loop.time()
        try:
            self.parser.feed_data(data)
            if not self.head_done:
                # What a head still being read has taken so far (llhttp buffers nothing itself:
                # httptools gathers an unfinished header line's bytes until it ends).
                self.head_bytes += len(data)
                if self.head_bytes > MAX_HEAD_BYTES:
                    self.refuse(f"a head of over {MAX_HEAD_BYTES} bytes")
        except httptools.HttpParserUpgrade:
            self.fail(BadAnswer("the upstream switched protocols"))
        except httptools.HttpParserError as exc:
            if self.complete:
                # Bytes after a whole answer: the answer stands, the connection is given up.
                self.reusable = False
                self.transport.abort()
                return
            kind = BrokenAnswer if self.head_done else BadAnswer
            self.fail(kind(f"malformed answer: {self.refusal or exc}"))

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.busy or self.complete or self.error is not None:
            return
        if self.head_done and self.until_close:
            # An answer framed by the end of the connection (no length, not chunked) ends here.
            self.complete = True
            self.wake()
        elif self.head_done:
            self.fail(BrokenAnswer("the upstream closed the connection in the answer's body"))
        else:
            self.fail(Dropped("the upstream closed the connection before answering"))

    # -- httptools callbacks -------------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.head_done:
            self.refuse("a second answer to one request")
        self.heads += 1
        if self.heads > MAX_INFORMATIONAL + 1:
            self.refuse(f"more than {MAX_INFORMATIONAL} informational answers")
        self.headers = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))
        self.header_bytes += len(name) + len(value)
        if len(self.headers) > MAX_HEADERS:
            self.refuse(f"more than {MAX_HEADERS} headers")
        if self.header_bytes > MAX_HEAD_BYTES:
            self.refuse(f"headers of over {MAX_HEAD_BYTES} bytes")

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:
            self.informational = True  # e.g. 100 Continue: the real answer follows
            return
        self.status, self.head_done = status, True
        chunked = False
        for name, value in self.headers:
            if name == b"content-length":
                self.content_length = int(value)  # llhttp has refused a malformed or repeated one
            elif name == b"transfer-encoding":
                chunked = True
        if chunked and self.content_length is not None:
            # Two framings (RFC 9112 §6.3): the length would be relayed with a chunked body.
            self.refuse("both Transfer-Encoding and Content-Length")
        self.until_close = self.content_length is None and not chunked and status not in (204, 304)
        self.reusable = self.parser.should_keep_alive() and not self.until_close
        if self.head_request:
            # Nothing follows a HEAD answer's head, whatever its Content-Length says; llhttp
            # would wait for that many bytes, so the connection is given up after it.
            self.complete, self.reusable = True, False
        if self.head_waiter is not None and not self.head_waiter.done():
            self.head_waiter.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.chunks.append(body)
        self.buffered += len(body)
        if self.buffered >= HIGH_WATER and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self.wake()

    def on_message_complete(self) -> None:
        if self.informational:
            self.informational = False
            return
        self.complete = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.wake()

    def refuse(self, reason: str) -> None:
        """Stop the parser from a callback: the answer is malformed, for `reason`."""
        self.refusal = reason
        raise httptools.HttpParserError(reason)

    # -- the request ----------------------------------------------------------------------------
    async def exchange(self, head: bytes, body: bytes, read_timeout: float, head_request: bool):
        """Send one request and return once the answer's head has arrived."""
        self.busy, self.head_request = True, head_request
        self.exchanges += 1
        if self.closed:
            raise Dropped("the upstream closed the connection before the request")
        self.read_timeout = read_timeout
        self.last_read = self.loop.time()
        self.head_waiter = self.loop.create_future()
        self.timer = self.loop.call_at(self.last_read + read_timeout, self.check_timeout)
        self.transport.write(head + body if body else head)
        if not self.head_done:
            await self.head_waiter
        self.head_waiter = None
        if self.error is not None:
            raise self.error
        return Answer(self, self.status, self.headers, self.content_length)

    def check_timeout(self) -> None:
        self.timer = None
        if self.complete or self.error is not None or self.closed:
            return
        idle = self.loop.time() - self.last_read
        if self.paused or idle < self.read_timeout:
            # Waiting on our own reader (paused) or data arrived since: look again later.
            self.last_read = self.loop.time() if self.paused else self.last_read
            self.timer = self.loop.call_at(self.last_read + self.read_timeout, self.check_timeout)
            return
        self.fail(ReadTimedOut(f"no answer for {self.read_timeout:g} s"))

    def take(self) -> list[bytes]:
        """Return the body bytes arrived since last asked, and read on if reading was paused."""
        chunks, self.chunks, self.buffered = self.chunks, [], 0
        if self.paused and not self.closed:
            self.paused = False
            self.last_read = self.loop.time()
            self.transport.resume_reading()
        return chunks

    async def wait(self) -> None:
        """Wait for more of the body, its end, or the failure that ends it."""
        if self.error is not None:
            raise self.error
        if self.chunks or self.complete:
            return
        self.body_waiter = self.loop.create_future()
        try:
            await self.body_waiter
        finally:
            self.body_waiter = None
        if self.error is not None:
            raise self.error

    def wake(self) -> None:
        if self.body_waiter is not None and not self.body_waiter.done():
            self.body_waiter.set_result(None)

    def fail(self, error: UpstreamError) -> None:
        """End the exchange with `error` and drop the connection."""
        if self.error is None:
            self.error = error
        self.reusable = False
        if self.transport is not None:
            self.transport.abort()
        for waiter in (self.head_waiter, self.body_waiter):
            if waiter is not None and not waiter.done():
                waiter.set_result(None)

    def release(self, exchange: int) -> None:
        """Hand the connection back: to the pool after a complete reusable answer, else closed.

        Only the exchange's own answer releases it, once: the connection may carry another by then.
        """
        if not self.busy or exchange != self.exchanges:
            return
        self.busy = False
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        keep = self.complete and self.reusable and self.error is None and not self.closed
        if not keep and not self.closed:
            self.closed = True
            self.transport.abort()
        if keep:
            self.reset()
        self.pool.put_back(self, keep)


class HostPool:
    """The connections to one upstream address: idle ones kept (newest first), at most `limit` in use."""

    def __init__(self, host: str, port: int, limit: int, keepalive: float):
        self.host, self.port = host, port
        self.host_header = f"{host}:{port}"
        self.keepalive = keepalive
        self.idle: collections.deque[Connection] = collections.deque()
        self.slots = asyncio.Semaphore(limit) if limit else None

    async def acquire(self, connect_timeout: float) -> Connection:
        if self.slots is not None:
            await self.slots.acquire()
        try:
            now = asyncio.get_running_loop().time()
            while self.idle:
                connection = self.idle.pop()
                if not connection.closed and now - connection.idle_since < self.keepalive:
                    return connection
                if not connection.closed:
                    connection.closed = True
                    connection.transport.abort()
            return await self.connect(connect_timeout)
        except BaseException:
            if self.slots is not None:
                self.slots.release()
            raise

    async def connect(self, connect_timeout: float) -> Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: Connection(self), self.host, self.port
                )
        except TimeoutError:
            raise ConnectFailed(f"no connection within {connect_timeout:g} s") from None
        except OSError as exc:
            raise ConnectFailed(str(exc)) from None
        return connection

    def put_back(self, connection: Connection, keep: bool) -> None:
        if keep:
            connection.idle_since = connection.loop.time()
            self.idle.append(connection)
        if self.slots is not None:
            self.slots.release()

    def close(self) -> None:
        while self.idle:
            connection = self.idle.pop()
            if connection.transport is not None:
                connection.transport.close()


class UpstreamPool:
    """Pooled connections to every upstream address, for one event loop."""

    def __init__(self, *, limit_per_host: int = 256, keepalive: float = 15.0):
        self.limit_per_host = limit_per_host
        self.keepalive = keepalive
        self.hosts: dict[tuple[str, int], HostPool] = {}

    async def request(
        self,
        address: tuple[str, int],
        method: str,
        target: str,
        headers: list[tuple[str, str]],
        body: bytes,
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> Answer:
        """Send one request to `address` and return its answer once the head has arrived.

        `target` is sent as given (the caller has checked it is printable ASCII); `headers` as
        given, plus Host if they hold none and Content-Length when there is a body (or the method
        sends one): the caller has removed every framing header of its own.
        """
        pool = self.hosts.get(address)
        if pool is None:
            pool = self.hosts[address] = HostPool(*address, self.limit_per_host, self.keepalive)
        lines = [f"{method} {target} HTTP/1.1\r\n"]
        has_host = False
        for name, value in headers:
            if name == "host":
                has_host = True
            lines.append(f"{name}: {value}\r\n")
        if not has_host:
            lines.append(f"host: {pool.host_header}\r\n")
        if body or method in SENDS_BODY:
            lines.append(f"content-length: {len(body)}\r\n")
        lines.append("\r\n")
        head = "".join(lines)
        # Every line ends in one CRLF: any other CR, LF or a NUL would let a value end the line
        # (granian refuses them in what clients send; this module does not rely on it).
        if head.count("\n") != len(lines) or head.count("\r") != len(lines) or "\x00" in head:
            raise ValueError("a header or the target holds a line break or NUL")
        connection = await pool.acquire(connect_timeout)
        try:
            return await connection.exchange(
                head.encode("latin-1"), body, read_timeout, method == "HEAD"
            )
        except BaseException:
            connection.release(connection.exchanges)
            raise

    def close(self) -> None:
        for pool in self.hosts.values():
            pool.close()
        self.hosts.clear()

"""The edge's view of one request: checks of its bytes, JSON refusals, the answer being sent.

Shared by the HTTP forwarding path (`gateway.proxy`) and the WebSocket relay (`gateway.websocket`).
"""

import collections
import json
import re
from urllib.parse import unquote_to_bytes

from food_common.errors import ErrorCode, error_body


class EdgeErrorCode:
    """Error codes only the gateway answers (the shared ones are `food_common.errors.ErrorCode`)."""

    REQUEST_TIMEOUT = "request_timeout"
    TOO_MANY_CONNECTIONS = "too_many_connections"


# Never forwarded upstream: hop-by-hop (RFC 9110 §7.6.1), framing (gateway.upstream frames the
# body it sends), what the gateway sets itself, and `proxy` (httpoxy).
DROPPED_REQUEST_HEADERS = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"expect",
        b"x-request-id",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
        b"proxy",
    }
)
# Headers a request may carry once: two of them could be read differently here and upstream.
SINGLE_REQUEST_HEADERS = frozenset(
    {b"authorization", b"host", b"content-type", b"content-length", b"transfer-encoding"}
)
# Not relayed from an upstream answer: hop-by-hop, and what granian writes itself.
DROPPED_RESPONSE_HEADERS = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"date",
        b"server",
    }
)
# Bytes a request target may hold as sent (visible ASCII), and characters it may not decode to.
BAD_TARGET_BYTE = re.compile(rb"[^\x21-\x7e]")
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_HEADERS = ((b"content-type", b"application/json"),)


class Refused(Exception):
    """The gateway answers the request itself with this JSON error."""

    def __init__(self, status: int, detail: str, code: str, headers=()):
        super().__init__(detail)
        self.status, self.detail, self.code, self.headers = status, detail, code, headers


class ClientGone(Exception):
    """The client disconnected before its request was complete."""


class Request:
    """What the checks made of one request's scope: decoded path, target to forward, headers."""

    __slots__ = (
        "method",
        "path",
        "target",
        "headers",
        "peer",
        "client",
        "declared_length",
        "chunked",
    )

    def __init__(self, scope: dict, trusted_proxies: int = 0):
        self.method: str = scope["method"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        if BAD_TARGET_BYTE.search(raw_path) or BAD_TARGET_BYTE.search(query):
            raise Refused(
                400,
                "The request target must be printable ASCII (percent-encode anything else).",
                ErrorCode.BAD_REQUEST,
            )
        try:
            self.path = (unquote_to_bytes(raw_path) if b"%" in raw_path else raw_path).decode()
        except UnicodeDecodeError:
            raise Refused(
                400, "The request path is not valid UTF-8.", ErrorCode.BAD_REQUEST
            ) from None
        if CONTROL_CHARACTER.search(self.path):
            raise Refused(400, "The request path holds a control character.", ErrorCode.BAD_REQUEST)
        self.target = (raw_path + b"?" + query if query else raw_path).decode("ascii")
        self.headers: dict[bytes, bytes] = {}
        self.declared_length: int | None = None
        self.chunked = False
        for name, value in scope["headers"]:
            if name in self.headers and name in SINGLE_REQUEST_HEADERS:
                raise Refused(
                    400, f"The {name.decode()} header is repeated.", ErrorCode.BAD_REQUEST
                )
            if not value.isascii():
                raise Refused(400, "Header values must be ASCII.", ErrorCode.BAD_REQUEST)
            self.headers.setdefault(name, value)
        encoding = self.headers.get(b"transfer-encoding")
        if encoding is not None:
            # granian has already framed the body by its last coding; anything but a lone
            # "chunked" is a framing another hop could read differently (RFC 9112 §6.3).
            if encoding.strip().lower() != b"chunked":
                raise Refused(
                    400,
                    "Transfer-Encoding other than a single 'chunked' is not accepted.",
                    ErrorCode.BAD_REQUEST,
                )
            self.chunked = True
        length = self.headers.get(b"content-length")
        if length is not None:
            if not length.strip().isdigit():  # granian refuses these already; never trust that
                raise Refused(400, "Content-Length is malformed.", ErrorCode.BAD_REQUEST)
            self.declared_length = int(length)
        client = scope.get("client")
        self.peer: str = client[0] if client else "-"
        self.client: str = self.peer
        forwarded_for = self.headers.get(b"x-forwarded-for")
        if trusted_proxies and forwarded_for:
            # DRF's rule (NUM_PROXIES): the entry that many hops from the end of the list.
            hops = [hop.strip() for hop in forwarded_for.decode("latin-1").split(",")]
            self.client = hops[-min(trusted_proxies, len(hops))] or self.peer

    def header(self, name: bytes) -> str | None:
        value = self.headers.get(name)
        return value.decode("latin-1") if value is not None else None

    def forwarded_for(self) -> str:
        """Return the X-Forwarded-For to send upstream: the client's, with its peer appended."""
        forwarded_for = self.header(b"x-forwarded-for")
        return f"{forwarded_for}, {self.peer}" if forwarded_for else self.peer

    def upstream_headers(self, scope: dict, request_id: str) -> list[tuple[str, str]]:
        """Return the headers to send upstream: the client's, less the dropped, plus our own."""
        dropped = DROPPED_REQUEST_HEADERS
        connection = self.headers.get(b"connection")
        if connection:
            listed = {t.strip().lower() for t in connection.split(b",")}
            dropped = dropped | listed
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in scope["headers"]
            if name not in dropped and b"_" not in name
        ]
        headers.append(("x-forwarded-for", self.forwarded_for()))
        headers.append(("x-forwarded-proto", scope.get("scheme", "http")))
        headers.append(("x-request-id", request_id))
        return headers


class Reply:
    """Sends one HTTP answer and remembers whether it started and with what status."""

    __slots__ = ("send", "request_id", "status", "started")

    def __init__(self, send, request_id: str):
        self.send = send
        self.request_id = request_id
        self.status = 0
        self.started = False

    async def start(self, status: int, headers) -> None:
        self.status, self.started = status, True
        await self.send({"type": "http.response.start", "status": status, "headers": headers})

    async def body(self, chunk: bytes, more: bool = False) -> None:
        await self.send({"type": "http.response.body", "body": chunk, "more_body": more})

    async def through(self, message: dict) -> None:
        """Pass on a message of an app the gateway wraps (Django), noting when its answer starts."""
        if message["type"] == "http.response.start":
            self.status, self.started = message["status"], True
        await self.send(message)

    async def error(self, status: int, detail: str, code: str, headers=()) -> None:
        body = json.dumps(error_body(detail, code)).encode()
        await self.start(
            status,
            [
                *JSON_HEADERS,
                (b"content-length", str(len(body)).encode()),
                (b"x-request-id", self.request_id.encode()),
                *headers,
            ],
        )
        await self.body(body)


class ClientSlot:
    """One of a client address's in-flight requests (or WebSockets), refused past the cap."""

    __slots__ = ("counts", "client", "cap")

    def __init__(self, counts: collections.Counter, client: str, cap: int):
        self.counts, self.client, self.cap = counts, client, cap

    def __enter__(self):
        if self.cap and self.counts[self.client] >= self.cap:
            raise Refused(
                429,
                f"At most {self.cap} requests from one address may be in progress at once.",
                EdgeErrorCode.TOO_MANY_CONNECTIONS,
            )
        self.counts[self.client] += 1
        return self

    def __exit__(self, *exc_info):
        left = self.counts[self.client] - 1
        if left:
            self.counts[self.client] = left
        else:
            del self.counts[self.client]


def header(scope: dict, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def replay(body: bytes, receive):
    """Return a `receive` that hands Django the body read already, then the client's own events.

    After the body Django listens for the client's disconnect; the server's one body message,
    when the gateway did not read it (a request without a body), is skipped.
    """
    sent = False

    async def replayed():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message

    return replayed

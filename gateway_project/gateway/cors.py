"""CORS at the edge: browser front ends on configured origins may call the API.

A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered here, without
a token and without reaching a service: 204 with the CORS headers for an allowed origin, 204 with
none for any other (the browser then refuses the call, as django-cors-headers does it). An actual
request from an allowed origin gets `Access-Control-Allow-Origin` on its answer, whoever made the
answer (a service, the gateway's own JSON errors, Django's pages).

Tokens travel in the `Authorization` header, never in cookies, so credentials are not allowed.
Written here rather than taken from starlette's CORSMiddleware, which answers a preflight from
another origin with a plain-text 400, where every answer of the gateway is JSON or empty.
"""

from collections.abc import Iterable

ALLOWED_METHODS = b"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = b"authorization, content-type, idempotency-key, x-request-id"
EXPOSED_HEADERS = b"x-request-id, retry-after, idempotent-replayed, location"


class Cors:
    """The CORS rules of the gateway for a set of allowed origins (exact `scheme://host[:port]`)."""

    def __init__(self, origins: Iterable[str], max_age: int = 600):
        self.origins = frozenset(o.rstrip("/") for o in origins if o)
        self.max_age = str(max_age).encode()

    def allowed_origin(self, scope: dict) -> bytes | None:
        """Return the request's `Origin` if it is allowed, else None."""
        if not self.origins:
            return None
        for key, value in scope["headers"]:
            if key == b"origin":
                return value if value.decode("latin-1") in self.origins else None
        return None

    @staticmethod
    def is_preflight(scope: dict) -> bool:
        if scope["method"] != "OPTIONS":
            return False
        names = {key for key, _ in scope["headers"]}
        return b"origin" in names and b"access-control-request-method" in names

    def preflight_headers(self, origin: bytes | None) -> list[tuple[bytes, bytes]]:
        """Return the headers of the answer to a preflight (none of CORS for a foreign origin)."""
        headers = [(b"vary", b"origin"), (b"content-length", b"0")]
        if origin is not None:
            headers += [
                (b"access-control-allow-origin", origin),
                (b"access-control-allow-methods", ALLOWED_METHODS),
                (b"access-control-allow-headers", ALLOWED_HEADERS),
                (b"access-control-max-age", self.max_age),
            ]
        return headers

    @staticmethod
    def with_origin(send, origin: bytes):
        """Return a `send` that adds the allowed origin's headers to the answer's start."""

        async def send_with_cors(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {
                    **message,
                    "headers": [
                        *message.get("headers", ()),
                        (b"access-control-allow-origin", origin),
                        (b"access-control-expose-headers", EXPOSED_HEADERS),
                        (b"vary", b"origin"),
                    ],
                }
            await send(message)

        return send_with_cors

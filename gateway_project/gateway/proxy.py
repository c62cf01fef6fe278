"""The gateway's forwarding path: a plain WSGI callable in front of Django.

Proxied prefixes never enter the Django request stack (measured: a Django view forwarding through
`requests` cost 1.1 ms of CPU per request, this path about 0.3 ms; see bench/README.md). What runs
here is only what every proxied request needs: request id, token check, rate limit, forwarding,
one access-log line. Everything else (health, readiness, schema, docs, the gateway admin) is the
Django application it wraps.
"""

import http.client
import json
import logging
import time

from django.conf import settings
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from food_common.authentication import bearer_token
from food_common.errors import ErrorCode, error_body
from food_common.http import UpstreamSet
from food_common.metrics import register_once
from food_common.request_id import access_log, clean_request_id, current_request_id
from food_common.tokens import KeysUnavailable, TokenInvalid, get_verifier
from gateway.ratelimit import RateLimiter
from gateway.routes import Route, resolve
from gateway.transport import ConnectionCache

logger = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
# Request headers the gateway sets itself (or must never pass on: httpoxy).
SKIPPED_REQUEST_ENVIRON = frozenset(
    {"HTTP_X_REQUEST_ID", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_PROXY"}
)
BUFFER_LIMIT = 256 * 1024
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
STATUS_TEXT = {
    401: "Unauthorized",
    413: "Content Too Large",
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


UPSTREAM_SECONDS = Histogram(
    "food_gateway_upstream_seconds", "Time until the upstream's answer started", ["upstream"]
)
UPSTREAM_ERRORS = Counter(
    "food_gateway_upstream_errors_total",
    "Upstream calls that failed, by kind",
    ["upstream", "kind"],
)
PROXIED = Counter(
    "food_gateway_requests_total", "Proxied requests by answer class", ["upstream", "status"]
)


class CircuitCollector(Collector):
    """1 when a copy's circuit is open (requests skip it), per upstream and copy."""

    def __init__(self, upstreams: dict[str, UpstreamSet]):
        self.upstreams = upstreams

    def describe(self):
        yield GaugeMetricFamily("food_gateway_circuit_open", "")

    def collect(self):
        family = GaugeMetricFamily(
            "food_gateway_circuit_open",
            "1 if the copy's circuit is open",
            labels=["upstream", "copy"],
        )
        for name, upstream_set in self.upstreams.items():
            for upstream in upstream_set.upstreams:
                family.add_metric(
                    [name, upstream.base_url], 0 if upstream.breaker.state == "closed" else 1
                )
        yield family


class NotSent(Exception):
    """The request never reached the upstream (connection refused or connect timeout)."""


class GatewayApplication:
    """Forward API prefixes to the services; hand every other path to the wrapped Django app."""

    def __init__(self, django_app):
        self.django_app = django_app
        self.upstreams = {
            name: UpstreamSet(
                name,
                urls,
                threshold=settings.GATEWAY_CIRCUIT_THRESHOLD,
                reset_after=settings.GATEWAY_CIRCUIT_RESET_SECONDS,
            )
            for name, urls in settings.UPSTREAMS.items()
            if urls
        }
        self.connections = ConnectionCache()
        self.limiter = RateLimiter(
            settings.GATEWAY_RATE_LIMIT_REDIS_URL, settings.GATEWAY_RATE_LIMIT
        )
        self.max_body = settings.GATEWAY_MAX_BODY_BYTES
        self.connect_timeout = settings.GATEWAY_CONNECT_TIMEOUT
        self.read_timeouts = settings.GATEWAY_READ_TIMEOUTS
        self.access_log = settings.GATEWAY_ACCESS_LOG
        # Each upstream's metric series, looked up once: `labels()` takes a lock and builds a key
        # on every call, which showed in the forwarding path's profile (bench/README.md).
        self.upstream_seconds = {name: UPSTREAM_SECONDS.labels(name) for name in self.upstreams}
        self.proxied = {
            name: {f"{n}xx": PROXIED.labels(name, f"{n}xx") for n in range(1, 6)}
            for name in self.upstreams
        }
        register_once(CircuitCollector(self.upstreams))

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO") or "/"
        route = resolve(method, path)
        if route is None or route.upstream not in self.upstreams:
            return self.django_app(environ, start_response)
        request_id = clean_request_id(environ.get("HTTP_X_REQUEST_ID"))
        context_token = current_request_id.set(request_id)
        started = time.perf_counter()
        try:
            status, headers, body = self.handle(environ, route, method, path, request_id)
            start_response(status, headers)
            answer_class = f"{status[0]}xx"
            series = self.proxied[route.upstream].get(answer_class)
            (series or PROXIED.labels(route.upstream, answer_class)).inc()
            if self.access_log:
                access_log.info(
                    "%s %s %s",
                    method,
                    path,
                    status[:3],
                    extra={
                        "method": method,
                        "path": path,
                        "status": int(status[:3]),
                        "upstream": route.upstream,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            return body
        finally:
            current_request_id.reset(context_token)

    def handle(self, environ, route: Route, method: str, path: str, request_id: str):
        """Return (status line, headers, body iterable) for one proxied request."""
        claims = None
        if route.protected:
            try:
                token = bearer_token(environ.get("HTTP_AUTHORIZATION"))
                if token is None:
                    return self.error(
                        401,
                        "Authentication credentials were not provided.",
                        ErrorCode.NOT_AUTHENTICATED,
                    )
                claims = get_verifier().verify(token)
            except TokenInvalid as exc:
                return self.error(401, str(exc), ErrorCode.TOKEN_INVALID)
            except KeysUnavailable as exc:
                return self.error(503, str(exc), ErrorCode.AUTH_KEYS_UNAVAILABLE)

        client_key = f"u{claims['sub']}" if claims else environ.get("REMOTE_ADDR", "-")
        retry_after = self.limiter.retry_after(client_key)
        if retry_after is not None:
            return self.error(
                429,
                "Too many requests.",
                ErrorCode.THROTTLED,
                headers=[("Retry-After", str(retry_after))],
            )

        body = self.read_body(environ)
        if body is None:
            return self.error(
                413, f"Request body is larger than {self.max_body} bytes.", ErrorCode.BODY_TOO_LARGE
            )
        query = environ.get("QUERY_STRING")
        target = f"{path}?{query}" if query else path
        return self.forward(
            route.upstream, method, target, self.request_headers(environ, request_id), body
        )

    def read_body(self, environ) -> bytes | None:
        """Return the request body (b"" if none), or None if it is over the limit."""
        length = environ.get("CONTENT_LENGTH")
        stream = environ["wsgi.input"]
        if length:
            try:
                size = int(length)
            except ValueError:
                size = 0
            if size > self.max_body:
                return None
            return stream.read(size) if size > 0 else b""
        if environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked":
            data = stream.read(self.max_body + 1)
            return None if len(data) > self.max_body else data
        return b""

    def request_headers(self, environ, request_id: str) -> dict[str, str]:
        """Return the headers to send upstream: the client's, less hop-by-hop, plus X-Forwarded-*."""
        headers = {}
        connection_tokens = {
            t.strip().lower() for t in environ.get("HTTP_CONNECTION", "").split(",") if t.strip()
        }
        for key, value in environ.items():
            if not key.startswith("HTTP_") or key in SKIPPED_REQUEST_ENVIRON:
                continue
            name = key[5:].replace("_", "-").lower()
            if name in HOP_BY_HOP or name in connection_tokens:
                continue
            headers[name] = value
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        remote = environ.get("REMOTE_ADDR", "")
        forwarded_for = environ.get("HTTP_X_FORWARDED_FOR")
        headers["x-forwarded-for"] = f"{forwarded_for}, {remote}" if forwarded_for else remote
        headers["x-forwarded-proto"] = environ.get("wsgi.url_scheme", "http")
        headers["x-request-id"] = request_id
        return headers

    def forward(self, name: str, method: str, target: str, headers: dict, body: bytes):
        """Send the request to a healthy copy of `name` and return its answer (or a 5xx JSON)."""
        candidates = self.upstreams[name].candidates()
        if not candidates:
            return self.error(
                503, f"{name} is unavailable (circuit open).", ErrorCode.UPSTREAM_UNAVAILABLE
            )
        read_timeout = self.read_timeouts.get(name, 10.0)
        send_body = body if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS") else None
        for upstream in candidates:
            host, port = upstream.host_port
            started = time.perf_counter()
            try:
                response = self.send(host, port, read_timeout, method, target, headers, send_body)
            except NotSent:
                upstream.breaker.record_failure()
                UPSTREAM_ERRORS.labels(name, "refused").inc()
                continue
            except (ConnectionResetError, http.client.RemoteDisconnected) as exc:
                # The copy dropped the connection before answering (e.g. it is dying): another
                # copy may take the request if repeating it is safe.
                upstream.breaker.record_failure()
                UPSTREAM_ERRORS.labels(name, "dropped").inc()
                self.connections.discard(host, port)
                if method in SAFE_METHODS:
                    continue
                logger.warning("%s at %s:%s dropped the connection: %r", name, host, port, exc)
                return self.error(502, f"{name} dropped the connection.", ErrorCode.BAD_GATEWAY)
            except TimeoutError:
                upstream.breaker.record_failure()
                UPSTREAM_ERRORS.labels(name, "timeout").inc()
                self.connections.discard(host, port)
                return self.error(
                    504, f"{name} did not answer in {read_timeout:g} s.", ErrorCode.UPSTREAM_TIMEOUT
                )
            except (http.client.HTTPException, OSError) as exc:
                upstream.breaker.record_failure()
                UPSTREAM_ERRORS.labels(name, "bad_answer").inc()
                self.connections.discard(host, port)
                logger.warning("bad answer from %s at %s:%s: %r", name, host, port, exc)
                return self.error(502, f"{name} gave no valid answer.", ErrorCode.BAD_GATEWAY)
            self.upstream_seconds[name].observe(time.perf_counter() - started)
            if response.status in (502, 503, 504):
                upstream.breaker.record_failure()
                UPSTREAM_ERRORS.labels(name, f"http_{response.status}").inc()
            else:
                upstream.breaker.record_success()
            return self.relay(response, host, port, method)
        return self.error(503, f"No copy of {name} is reachable.", ErrorCode.UPSTREAM_UNAVAILABLE)

    def send(
        self, host, port, read_timeout, method, target, headers, body
    ) -> http.client.HTTPResponse:
        """Send one request on this thread's kept-alive connection; retry once if it had gone stale."""
        for attempt in (1, 2):
            conn = self.connections.get(host, port, self.connect_timeout, read_timeout)
            if conn.sock is None:
                try:
                    conn.connect()
                except OSError as exc:  # refused, unreachable, connect timeout: nothing was sent
                    self.connections.discard(host, port)
                    raise NotSent() from exc
            reused = conn.used
            conn.used = True
            try:
                conn.request(method, target, body, headers)
                return conn.getresponse()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                # The server closed an idle kept-alive connection as we reused it: nothing was
                # processed, so one retry on a fresh connection is safe (as browsers do).
                self.connections.discard(host, port)
                if not reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def relay(self, response: http.client.HTTPResponse, host: str, port: int, method: str):
        """Return the upstream's status, headers and body (buffered if small, else streamed)."""
        status = (
            f"{response.status} {response.reason or http.client.responses.get(response.status, '')}"
        )
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
        if method == "HEAD" or (response.length is not None and response.length <= BUFFER_LIMIT):
            try:
                return status, headers, [response.read()]
            except (OSError, http.client.HTTPException) as exc:
                self.connections.discard(host, port)
                logger.warning("upstream %s:%s broke off its answer: %r", host, port, exc)
                return self.error(502, "The service broke off its answer.", ErrorCode.BAD_GATEWAY)
        return status, headers, self.stream(response, host, port)

    def stream(self, response, host, port):
        try:
            while chunk := response.read(65536):
                yield chunk
        except (OSError, http.client.HTTPException) as exc:
            logger.warning("upstream %s:%s broke off a streamed answer: %r", host, port, exc)
            self.connections.discard(host, port)
        finally:
            if not response.isclosed():
                # The client went away before the end: this connection can't be reused.
                self.connections.discard(host, port)

    def error(self, status: int, detail: str, code: str, headers=()):
        body = json.dumps(error_body(detail, code)).encode()
        return (
            f"{status} {STATUS_TEXT.get(status, '')}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(body))),
                ("X-Request-ID", current_request_id.get()),
                *headers,
            ],
            [body],
        )

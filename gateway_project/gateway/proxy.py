"""The gateway's forwarding path: a plain ASGI callable in front of Django's ASGI application.

Proxied prefixes never enter the Django request stack (measured: Django's ASGI stack alone costs
about 1 ms of CPU per request, this path about 0.3 ms; ../shared/PERFORMANCE.md, bench/README.md).
What runs here is only what every proxied request needs: checks of the request's bytes, request id,
token check, rate limit, forwarding, one access-log line. Everything else (health, readiness,
schema, docs, the gateway's admin) is the Django application it wraps.

Every byte a client sends is treated as hostile (docs/architecture.md, "The edge"):
- framing is decided by granian's HTTP parser (hyper) on the client side and by the gateway's
  own client (gateway.upstream: the head written here, answers parsed by httptools) on the
  upstream side, never copied: the upstream request is built from the client's headers minus
  hop-by-hop and framing headers, minus any header with `_` in its name (nginx's rule: `X_A` and
  `X-A` are the same variable to a WSGI app), minus what the gateway sets itself;
- the request target must be ASCII, decode as UTF-8 and hold no control character, and it is
  forwarded exactly as the client encoded it (`raw_path`);
- the body must arrive within GATEWAY_BODY_TIMEOUT and fit GATEWAY_MAX_BODY_BYTES; it is read
  whole before anything is forwarded, so a slow client costs a coroutine and never an upstream
  connection;
- a copy's circuit counts only what says the copy is broken (refused, dropped, timed out), never
  an answer the service chose;
- every answer the gateway makes itself is JSON with the request id, its own crashes included.
"""

import asyncio
import collections
import logging
import time

import aiohttp
from django.conf import settings
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from food_common.authentication import bearer_token
from food_common.errors import ErrorCode
from food_common.http import UpstreamSet
from food_common.metrics import register_once
from food_common.request_id import clean_request_id, current_request_id, log_access
from food_common.tokens import KeysUnavailable, TokenInvalid, get_verifier
from gateway.cors import Cors
from gateway.edge import (
    DROPPED_RESPONSE_HEADERS,
    SAFE_METHODS,
    ClientGone,
    ClientSlot,
    EdgeErrorCode,
    Refused,
    Reply,
    Request,
    header,
    replay,
)
from gateway.ratelimit import RateLimiter
from gateway.routes import Route, resolve
from gateway.upstream import (
    BadAnswer,
    BrokenAnswer,
    ConnectFailed,
    Dropped,
    ReadTimedOut,
    UpstreamError,
    UpstreamPool,
)
from gateway.websocket import relay_websocket

logger = logging.getLogger(__name__)

BUFFER_LIMIT = 256 * 1024


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
REFUSED = Counter(
    "food_gateway_refused_total", "Requests the gateway refused itself, by error code", ["code"]
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
        self.limiter = RateLimiter(
            settings.GATEWAY_RATE_LIMIT_REDIS_URL, settings.GATEWAY_RATE_LIMIT
        )
        self.max_body = settings.GATEWAY_MAX_BODY_BYTES
        self.body_timeout = settings.GATEWAY_BODY_TIMEOUT
        self.max_inflight = settings.GATEWAY_MAX_INFLIGHT_PER_CLIENT
        self.trusted_proxies = settings.GATEWAY_NUM_PROXIES
        self.ws_auth_timeout = settings.GATEWAY_WS_AUTH_TIMEOUT
        self.access_log = settings.GATEWAY_ACCESS_LOG
        self.cors = Cors(settings.GATEWAY_CORS_ALLOWED_ORIGINS, settings.GATEWAY_CORS_MAX_AGE)
        self.connect_timeout = settings.GATEWAY_CONNECT_TIMEOUT
        self.read_timeouts = {
            name: settings.GATEWAY_READ_TIMEOUTS.get(name, settings.GATEWAY_READ_TIMEOUT)
            for name in self.upstreams
        }
        self.inflight: collections.Counter[str] = collections.Counter()
        self.pool: UpstreamPool | None = None
        self.ws_session: aiohttp.ClientSession | None = None
        # Each upstream's metric series, looked up once: `labels()` takes a lock and builds a key
        # on every call, which showed in the forwarding path's profile (bench/README.md).
        self.upstream_seconds = {name: UPSTREAM_SECONDS.labels(name) for name in self.upstreams}
        self.proxied = {
            name: {f"{n}xx": PROXIED.labels(name, f"{n}xx") for n in range(1, 6)}
            for name in self.upstreams
        }
        register_once(CircuitCollector(self.upstreams))

    # -- ASGI entry ------------------------------------------------------------------------------
    async def __call__(self, scope, receive, send):
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "websocket":
            await relay_websocket(self, scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        if self.ws_session is not None:
            await self.ws_session.close()
        self.pool = self.ws_session = None
        await self.limiter.close()

    def upstream_pool(self) -> UpstreamPool:
        """Return the process's pooled upstream connections (made in the loop that serves requests)."""
        if self.pool is None:
            self.pool = UpstreamPool(limit_per_host=256)
        return self.pool

    def websocket_session(self) -> aiohttp.ClientSession:
        """Return the process's session for upstream WebSockets, apart from the HTTP pool.

        A WebSocket holds its connection for its whole life, so in the HTTP pool the live
        upstream's sockets would count against its per-host limit: a gateway would carry at most
        256 of them, and the 257th would wait for a free connection forever. Here nothing is
        pooled or capped (a client address is capped by GATEWAY_MAX_INFLIGHT_PER_CLIENT, the
        process by its file descriptors), and the handshake has the upstream's timeouts.
        """
        if self.ws_session is None:
            self.ws_session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300),
                timeout=aiohttp.ClientTimeout(
                    total=None,
                    sock_connect=self.connect_timeout,
                    sock_read=self.read_timeouts.get("live"),
                ),
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self.ws_session

    # -- HTTP ------------------------------------------------------------------------------------
    async def http(self, scope, receive, send):
        request_id = clean_request_id(header(scope, b"x-request-id"))
        context_token = current_request_id.set(request_id)
        started = time.perf_counter()
        origin = self.cors.allowed_origin(scope)
        preflight = Cors.is_preflight(scope)
        if origin is not None and not preflight:
            send = Cors.with_origin(send, origin)
        reply = Reply(send, request_id)
        route = None
        try:
            try:
                request = Request(scope, self.trusted_proxies)
                if preflight:
                    # Answered here, without a token: the browser asks before the real call.
                    await reply.start(
                        204,
                        [
                            *self.cors.preflight_headers(origin),
                            (b"x-request-id", request_id.encode()),
                        ],
                    )
                    await reply.body(b"")
                    self.count_and_log(scope, None, 204, started)
                    return
                route = resolve(request.method, request.path)
                if route is None or route.upstream not in self.upstreams:
                    route = None  # Django's own pages: its middleware logs them
                    body = await self.read_body(request, receive)
                    await self.django_app(scope, replay(body, receive), reply.through)
                    return
                await self.proxy(scope, receive, reply, request, route, request_id)
            except Refused as refused:
                REFUSED.labels(refused.code).inc()
                await reply.error(
                    refused.status, refused.detail, refused.code, headers=refused.headers
                )
            except ClientGone:
                # granian ends the body this way both when the client left and when its chunked
                # framing broke: answer for the second case; in the first nobody hears it.
                try:
                    await reply.error(
                        400,
                        "The request body is malformed or was cut off.",
                        ErrorCode.BAD_REQUEST,
                        headers=((b"connection", b"close"),),
                    )
                except Exception:  # noqa: BLE001 - the client is gone
                    reply.status = 499  # nginx's figure for "client closed the request"
            self.count_and_log(scope, route, reply.status, started)
        except Exception:
            logger.exception("the gateway failed on %s", scope.get("path"))
            if reply.started:
                raise  # the answer is half sent: the server must abort the connection
            await reply.error(500, "The gateway failed; try again.", ErrorCode.SERVER_ERROR)
            self.count_and_log(scope, route, 500, started)
        finally:
            current_request_id.reset(context_token)

    def count_and_log(self, scope, route: Route | None, status: int, started: float) -> None:
        """Count the answer by upstream and class, and write the access-log line."""
        upstream = route.upstream if route else "-"
        if route is not None:
            answer_class = f"{status // 100}xx"
            series = self.proxied[upstream].get(answer_class)
            (series or PROXIED.labels(upstream, answer_class)).inc()
        if self.access_log:
            log_access(
                scope["method"], scope["path"], scope["path"], status, started, upstream=upstream
            )

    async def proxy(self, scope, receive, reply, request: Request, route: Route, request_id: str):
        """Check, read and forward one proxied request; the answer goes out through `reply`."""
        with self.client_slot(request.client):
            # Flower checks its own basic auth: its Authorization header holds no token.
            authorization = request.header(b"authorization") if route.upstream != "flower" else None
            claims = await self.authenticate(authorization, route.protected)
            self.check_rate(claims, request.client)
            body = await self.read_body(request, receive)
            await self.forward(
                reply,
                route.upstream,
                request.method,
                request.target,
                request.upstream_headers(scope, request_id),
                body,
            )

    def client_slot(self, client: str) -> "ClientSlot":
        return ClientSlot(self.inflight, client, self.max_inflight)

    async def authenticate(self, authorization: str | None, required: bool) -> dict | None:
        """Return the token's claims (None without a token on a public route), or refuse."""
        try:
            token = bearer_token(authorization)
            if token is None:
                if required:
                    raise Refused(
                        401,
                        "Authentication credentials were not provided.",
                        ErrorCode.NOT_AUTHENTICATED,
                    )
                return None
            verifier = get_verifier()
            # A token seen before is checked on the loop; a new one may need the JWKS fetched,
            # which is blocking I/O, so it is verified in a thread.
            return verifier.verified(token) or await asyncio.to_thread(verifier.verify, token)
        except TokenInvalid as exc:
            raise Refused(401, str(exc), ErrorCode.TOKEN_INVALID) from None
        except KeysUnavailable as exc:
            raise Refused(503, str(exc), ErrorCode.AUTH_KEYS_UNAVAILABLE) from None

    def check_rate(self, claims: dict | None, client: str) -> None:
        retry_after = self.limiter.retry_after(f"u{claims['sub']}" if claims else client)
        if retry_after is not None:
            raise Refused(
                429,
                "Too many requests.",
                ErrorCode.THROTTLED,
                headers=((b"retry-after", str(retry_after).encode()),),
            )

    async def read_body(self, request: Request, receive) -> bytes:
        """Return the whole request body within the time and size limits, or refuse."""
        if request.declared_length is None and not request.chunked:
            return b""  # no body, by HTTP/1.1's own framing rules
        if request.declared_length is not None and request.declared_length > self.max_body:
            raise self.body_too_large()
        chunks, size = [], 0
        try:
            async with asyncio.timeout(self.body_timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise ClientGone()
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_body:
                        raise self.body_too_large()
                    chunks.append(chunk)
                    if not message.get("more_body"):
                        return b"".join(chunks)
        except TimeoutError:
            raise Refused(
                408,
                f"The request body did not arrive within {self.body_timeout:g} s.",
                EdgeErrorCode.REQUEST_TIMEOUT,
                headers=((b"connection", b"close"),),
            ) from None

    def body_too_large(self) -> Refused:
        return Refused(
            413, f"Request body is larger than {self.max_body} bytes.", ErrorCode.BODY_TOO_LARGE
        )

    async def forward(self, reply, name: str, method: str, target: str, headers, body: bytes):
        """Send the request to a healthy copy of `name` and relay its answer (or a JSON error)."""
        candidates = self.upstreams[name].candidates()
        if not candidates:
            raise Refused(
                503, f"{name} is unavailable (circuit open).", ErrorCode.UPSTREAM_UNAVAILABLE
            )
        pool = self.upstream_pool()
        read_timeout = self.read_timeouts[name]
        for upstream in candidates:
            started = time.perf_counter()
            try:
                answer = await pool.request(
                    upstream.host_port,
                    method,
                    target,
                    headers,
                    body,
                    connect_timeout=self.connect_timeout,
                    read_timeout=read_timeout,
                )
            except ConnectFailed:
                # Nothing was sent: another copy may take it, whatever the method.
                upstream.breaker.record_failure()
                UPSTREAM_ERRORS.labels(name, "refused").inc()
                continue
            except ReadTimedOut:
                upstream.breaker.record_failure()
                UPSTREAM_ERRORS.labels(name, "timeout").inc()
                raise Refused(
                    504, f"{name} did not answer in {read_timeout:g} s.", ErrorCode.UPSTREAM_TIMEOUT
                ) from None
            except Dropped as exc:
                # The copy dropped the connection before answering (e.g. it is dying): another
                # copy may take the request if repeating it is safe.
                upstream.breaker.record_failure()
                UPSTREAM_ERRORS.labels(name, "dropped").inc()
                if method in SAFE_METHODS:
                    continue
                logger.warning("%s at %s dropped the connection: %s", name, upstream.base_url, exc)
                raise Refused(
                    502, f"{name} dropped the connection.", ErrorCode.BAD_GATEWAY
                ) from None
            except BadAnswer as exc:
                upstream.breaker.record_failure()
                UPSTREAM_ERRORS.labels(name, "bad_answer").inc()
                logger.warning("bad answer from %s at %s: %s", name, upstream.base_url, exc)
                raise Refused(502, f"{name} gave no valid answer.", ErrorCode.BAD_GATEWAY) from None
            self.upstream_seconds[name].observe(time.perf_counter() - started)
            # Any answer, whatever its status, is the service's own choice: the copy is alive.
            upstream.breaker.record_success()
            try:
                await self.relay(reply, answer, name, method)
            finally:
                answer.close()
            return
        raise Refused(503, f"No copy of {name} is reachable.", ErrorCode.UPSTREAM_UNAVAILABLE)

    async def relay(self, reply, answer, name: str, method: str):
        """Pass the upstream's answer on: buffered when small, else streamed."""
        headers = [
            (key, value) for key, value in answer.headers if key not in DROPPED_RESPONSE_HEADERS
        ]
        if not any(key == b"x-request-id" for key, _ in headers):
            headers.append((b"x-request-id", reply.request_id.encode()))
        length = answer.content_length
        if method == "HEAD" or (length is not None and length <= BUFFER_LIMIT):
            try:
                body = await answer.read()
            except (BrokenAnswer, ReadTimedOut) as exc:
                UPSTREAM_ERRORS.labels(name, "broken_answer").inc()
                logger.warning("%s broke off its answer: %s", name, exc)
                raise Refused(
                    502, "The service broke off its answer.", ErrorCode.BAD_GATEWAY
                ) from None
            await reply.start(answer.status, headers)
            await reply.body(body)
            return
        await reply.start(answer.status, headers)
        try:
            async for chunk in answer.chunks():
                await reply.body(chunk, more=True)
        except UpstreamError as exc:
            logger.warning("%s broke off a streamed answer: %s", name, exc)
            raise  # half sent: the server aborts the client's connection
        await reply.body(b"")

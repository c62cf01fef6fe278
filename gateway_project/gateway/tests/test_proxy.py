"""The ASGI forwarding path against a stand-in upstream HTTP server that records what it receives.

The real services, granian's own parsing and raw-socket attacks are exercised by the cross-service
tests in the top-level tests/ (test_edge.py); these check the gateway's own decisions.
"""

import asyncio
import json
import logging

import pytest

from food_common.testing import make_access_token
from gateway.edge import Request
from gateway.proxy import GatewayApplication
from gateway.tests.conftest import RECEIVED


def http_scope(method: str, raw_path: bytes, headers, *, query=b"", client="10.1.2.3") -> dict:
    """Return the ASGI scope granian would hand the gateway for one HTTP request."""
    return {
        "type": "http",
        "method": method,
        "path": raw_path.decode("latin-1"),
        "raw_path": raw_path,
        "query_string": query,
        "headers": list(headers),
        "client": (client, 5555),
        "scheme": "http",
    }


class Gateway:
    """The application under test, driven on one event loop for the whole test."""

    def __init__(self, app: GatewayApplication):
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.django_calls = []

    def call(
        self,
        method: str,
        raw_path: bytes,
        *,
        body: bytes = b"",
        headers=(),
        query: bytes = b"",
        body_delay: float | None = None,
    ):
        """Return (status, headers, body) of one request; `body_delay` holds the body back."""
        messages = []
        header_list = [(k.lower().encode(), v.encode()) for k, v in headers]
        if body and not any(k == b"content-length" for k, _ in header_list):
            header_list.append((b"content-length", str(len(body)).encode()))
        scope = http_scope(
            method, raw_path, [(b"host", b"gateway.test"), *header_list], query=query
        )

        async def receive():
            if body_delay is not None:
                await asyncio.sleep(body_delay)
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            messages.append(message)

        self.loop.run_until_complete(self.app(scope, receive, send))
        start = messages[0]
        payload = b"".join(m.get("body", b"") for m in messages[1:])
        return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, payload

    def close(self):
        self.loop.run_until_complete(self.app.close())
        self.loop.close()


@pytest.fixture
def gateway(settings, upstream_url):
    settings.UPSTREAMS = {
        **settings.UPSTREAMS,
        "catalog": [upstream_url],
        "orders": [upstream_url],
        "payments": [upstream_url],
        "delivery": [upstream_url],
        "flower": [upstream_url],
    }
    settings.GATEWAY_READ_TIMEOUTS = {**settings.GATEWAY_READ_TIMEOUTS, "catalog": 0.5}
    settings.GATEWAY_RATE_LIMIT = "0"
    settings.GATEWAY_BODY_TIMEOUT = 0.3
    settings.GATEWAY_MAX_INFLIGHT_PER_CLIENT = 2
    calls = []

    async def django_app(scope, receive, send):
        calls.append((scope["path"], (await receive())["body"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})

    gateway = Gateway(GatewayApplication(django_app=django_app))
    gateway.django_calls = calls
    RECEIVED.clear()
    yield gateway
    gateway.close()


def error_code(reply) -> str:
    status, headers, body = reply
    assert headers["content-type"] == "application/json", reply
    document = json.loads(body)
    assert document["request_id"] == headers["x-request-id"]
    return document["code"]


def test_flowers_basic_auth_goes_through_to_flower(gateway, settings):
    settings.GATEWAY_PROXY_FLOWER = True

    status, _, body = gateway.call(
        "GET", b"/flower/api/tasks", headers=[("Authorization", "Basic YWRtaW46YWRtaW4=")]
    )

    assert status == 200
    seen = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
    assert seen["authorization"] == "Basic YWRtaW46YWRtaW4="


def test_forwards_path_query_and_headers_without_hop_by_hop(gateway):
    status, headers, body = gateway.call(
        "GET",
        b"/restaurants",
        query=b"page=2",
        headers=[
            ("Connection", "keep-alive, X-Secret-Hop"),
            ("X-Secret-Hop", "1"),
            ("X-Custom", "kept"),
            ("X-Forwarded-For", "1.1.1.1"),
            ("X-Request-ID", "rid-123"),
        ],
    )
    assert status == 200
    seen = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
    assert json.loads(body)["path"] == "/restaurants?page=2"
    assert seen["x-custom"] == "kept"
    assert "x-secret-hop" not in seen
    assert seen["x-forwarded-for"] == "1.1.1.1, 10.1.2.3"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-request-id"] == "rid-123"
    assert seen["host"] == "gateway.test"
    assert "keep-alive" not in headers and "date" not in headers


def test_headers_with_underscores_and_framing_headers_never_reach_the_upstream(gateway):
    status, _, _ = gateway.call(
        "POST",
        b"/orders",
        body=b'{"a": 1}',
        headers=[
            ("Authorization", f"Bearer {make_access_token(7)}"),
            ("Content_Length", "0"),
            ("X_Forwarded_For", "6.6.6.6"),
            ("X_Request_ID", "forged"),
            ("Transfer_Encoding", "chunked"),
        ],
    )
    assert status == 201
    [received] = RECEIVED
    seen = {k.lower(): v for k, v in received["headers"].items()}
    assert not any("_" in name for name in seen), seen
    assert seen["content-length"] == "8" and received["body"] == b'{"a": 1}'
    assert seen["x-forwarded-for"] == "10.1.2.3"
    assert seen["x-request-id"] != "forged"


@pytest.mark.parametrize(
    ("raw_path", "query"),
    [
        ("/restaurants/café".encode(), b""),
        (b"/restaurants/%ff", b""),
        (b"/restaurants/%00", b""),
        (b"/restaurants/a%0db", b""),
        (b"/restaurants/%7f", b""),
        (b"/restaurants", "q=é".encode()),
        (b"/health/%00", b""),  # the gateway's own pages too
    ],
    ids=["non-ascii", "not-utf8", "nul", "cr", "del", "non-ascii-query", "django-path"],
)
def test_undecodable_or_control_paths_are_400_json_and_never_forwarded(gateway, raw_path, query):
    reply = gateway.call("GET", raw_path, query=query)
    assert reply[0] == 400 and error_code(reply) == "bad_request"
    assert RECEIVED == [] and gateway.django_calls == []


def test_path_is_forwarded_exactly_as_encoded(gateway):
    for raw in (b"/restaurants/1%3Fids=1", b"/restaurants/a%2Fb", b"/restaurants/%20"):
        assert gateway.call("GET", raw)[0] == 200
    assert [r["path"] for r in RECEIVED] == [
        "/restaurants/1%3Fids=1",
        "/restaurants/a%2Fb",
        "/restaurants/%20",
    ]


@pytest.mark.parametrize(
    "headers",
    [
        [("Transfer-Encoding", "identity, chunked")],
        [("Transfer-Encoding", "gzip")],
        [("Content-Length", "3"), ("Content-Length", "3")],
        [("Authorization", "Bearer a"), ("Authorization", "Bearer b")],
        [("X-Note", "caf\xe9")],
    ],
    ids=["te-list", "te-gzip", "two-cl", "two-authorization", "non-ascii-value"],
)
def test_ambiguous_framing_and_headers_are_400(gateway, headers):
    reply = gateway.call("POST", b"/restaurants", body=b"abc", headers=headers)
    assert reply[0] == 400 and error_code(reply) == "bad_request"
    assert RECEIVED == []


def test_forwards_body_and_streams_large_answers(gateway):
    token = make_access_token(7)
    status, _, body = gateway.call(
        "POST",
        b"/orders",
        body=b'{"a": 1}',
        headers=[("Content-Type", "application/json"), ("Authorization", f"Bearer {token}")],
    )
    assert (status, body) == (201, b'{"a": 1}')
    status, _, body = gateway.call("GET", b"/restaurants/big")
    assert status == 200 and len(body) == 1024 * 1024


def test_rider_location_updates_reach_delivery_with_their_body(gateway):
    token = make_access_token(8, role="rider")
    status, _, body = gateway.call(
        "PUT",
        b"/riders/me/location",
        body=b'{"lat": 52.52, "lon": 13.405}',
        headers=[("Content-Type", "application/json"), ("Authorization", f"Bearer {token}")],
    )
    assert (status, body) == (204, b"")
    (received,) = RECEIVED
    assert (received["method"], received["path"]) == ("PUT", "/riders/me/location")
    assert received["body"] == b'{"lat": 52.52, "lon": 13.405}'
    headers = {k.lower(): v for k, v in received["headers"].items()}
    assert headers["authorization"] == f"Bearer {token}"
    # Without a token, neither a location nor a delivery step is forwarded.
    RECEIVED.clear()
    for method, path in (("PUT", b"/riders/me/location"), ("POST", b"/deliveries/3/accept")):
        reply = gateway.call(
            method, path, body=b"{}", headers=[("Content-Type", "application/json")]
        )
        assert reply[0] == 401 and error_code(reply) == "not_authenticated"
    assert RECEIVED == []


def test_protected_route_without_token_is_401_json_and_never_forwarded(gateway):
    reply = gateway.call("GET", b"/orders")
    assert reply[0] == 401 and error_code(reply) == "not_authenticated"
    assert RECEIVED == []


def test_a_token_on_a_public_route_is_checked_too(gateway):
    reply = gateway.call("GET", b"/restaurants", headers=[("Authorization", "Bearer forged")])
    assert reply[0] == 401 and error_code(reply) == "token_not_valid"
    assert RECEIVED == []


def test_body_that_does_not_arrive_in_time_is_408(gateway):
    reply = gateway.call(
        "POST",
        b"/orders",
        body=b"{}",
        headers=[("Authorization", f"Bearer {make_access_token(7)}")],
        body_delay=1.0,
    )
    assert reply[0] == 408 and error_code(reply) == "request_timeout"
    assert reply[1]["connection"] == "close"
    assert RECEIVED == []


def test_a_body_the_server_could_not_frame_is_400_json_and_never_forwarded(gateway):
    # granian reports a broken chunked body to the application as a disconnect.
    messages = []
    scope = http_scope(
        "POST",
        b"/orders",
        [
            (b"transfer-encoding", b"chunked"),
            (b"authorization", f"Bearer {make_access_token(7)}".encode()),
        ],
    )

    async def receive():
        return {"type": "http.disconnect"}

    async def send(message):
        messages.append(message)

    gateway.loop.run_until_complete(gateway.app(scope, receive, send))
    assert messages[0]["status"] == 400
    assert json.loads(messages[1]["body"])["code"] == "bad_request"
    assert RECEIVED == []


def test_more_requests_in_progress_from_one_address_than_the_cap_are_429(gateway):
    async def three_at_once():
        replies = []

        async def one(delay):
            messages = []
            scope = http_scope(
                "POST",
                b"/restaurants",
                [
                    (b"content-length", b"2"),
                    (b"authorization", f"Bearer {make_access_token(1, role='admin')}".encode()),
                ],
                client="10.9.9.9",
            )

            async def receive():
                await asyncio.sleep(delay)
                return {"type": "http.request", "body": b"{}", "more_body": False}

            async def send(message):
                messages.append(message)

            await gateway.app(scope, receive, send)
            replies.append((delay, messages[0]["status"]))

        await asyncio.gather(one(0.2), one(0.2), one(0.0))
        return sorted(replies)

    replies = gateway.loop.run_until_complete(three_at_once())
    # The two slow ones hold both slots; the third, from the same address, is refused.
    assert replies == [(0.0, 429), (0.2, 201), (0.2, 201)], replies
    assert gateway.app.inflight == {}


def test_behind_a_trusted_proxy_the_client_is_its_forwarded_address(gateway, settings):
    settings.GATEWAY_NUM_PROXIES = 1
    app = GatewayApplication(django_app=gateway.app.django_app)
    scope = http_scope(
        "GET",
        b"/restaurants",
        [(b"x-forwarded-for", b"6.6.6.6, 198.51.100.7")],
        client="10.0.0.1",
    )
    request = Request(scope, app.trusted_proxies)
    # The ingress appended the client it saw; what came before it is the client's own claim.
    assert (request.client, request.peer) == ("198.51.100.7", "10.0.0.1")
    forwarded = dict(request.upstream_headers(scope, "rid"))["x-forwarded-for"]
    assert forwarded == "6.6.6.6, 198.51.100.7, 10.0.0.1"
    assert Request(scope).client == "10.0.0.1"  # with no trusted proxy the peer is the client


def test_slow_upstream_is_504_json(gateway):
    reply = gateway.call("GET", b"/restaurants/slow")
    assert reply[0] == 504 and error_code(reply) == "upstream_timeout"


def test_answers_the_service_chose_never_open_a_circuit(gateway):
    # Given payments answering its own JSON 504 (the provider timed out) again and again
    token = make_access_token(3)
    for _ in range(5):
        reply = gateway.call(
            "GET", b"/payments/provider-timeout", headers=[("Authorization", f"Bearer {token}")]
        )
        assert reply[0] == 504 and json.loads(reply[2]) == {"code": "provider_timeout"}
    # Then the copy's circuit is still closed
    [copy] = gateway.app.upstreams["payments"].upstreams
    assert copy.breaker.state == "closed"


def test_dropped_connections_count_against_the_copy(gateway, settings):
    for _ in range(settings.GATEWAY_CIRCUIT_THRESHOLD):
        reply = gateway.call("GET", b"/restaurants/drop")
        assert reply[0] == 503 and error_code(reply) == "upstream_unavailable"
    [copy] = gateway.app.upstreams["catalog"].upstreams
    assert copy.breaker.state == "open"


def test_oversize_body_is_413_before_reading(gateway):
    reply = gateway.call(
        "POST",
        b"/restaurants",
        headers=[
            ("Content-Length", str(10**9)),
            ("Authorization", f"Bearer {make_access_token(1, role='admin')}"),
        ],
    )
    assert reply[0] == 413 and error_code(reply) == "request_too_large"


def test_other_paths_go_to_django_with_their_body(gateway):
    assert gateway.call("GET", b"/health")[2] == b"django"
    assert gateway.call("POST", b"/schema", body=b"xyz")[2] == b"django"
    assert gateway.django_calls == [("/health", b""), ("/schema", b"xyz")]


def test_an_unexpected_failure_is_500_json_with_the_request_id(gateway, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(gateway.app, "forward", broken)
    reply = gateway.call("GET", b"/restaurants", headers=[("X-Request-ID", "rid-500")])
    assert reply[0] == 500 and error_code(reply) == "server_error"
    assert reply[1]["x-request-id"] == "rid-500"


def test_each_answer_has_its_access_line_with_the_upstream(gateway, caplog):
    caplog.set_level(logging.INFO, logger="food.access")

    status, headers, _ = gateway.call("GET", b"/restaurants", headers=[("X-Request-ID", "r-42")])

    assert status == 200
    (line,) = [r for r in caplog.records if r.name == "food.access"]
    assert line.getMessage() == "GET /restaurants 200"
    assert (line.method, line.path, line.status, line.upstream) == (
        "GET",
        "/restaurants",
        200,
        "catalog",
    )
    assert line.duration_ms >= 0

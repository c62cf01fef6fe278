"""Calls between services: the circuit breaker, round-robin over copies, and the JSON client."""

import contextlib
import json
import socket
import time
from http.server import BaseHTTPRequestHandler

import pytest

from food_common.http import CircuitBreaker, ServiceClient, UpstreamError, UpstreamSet
from food_common.request_id import current_request_id
from tests.conftest import closed_port


class Clock:
    def __init__(self):
        self.now = 1000.0

    def monotonic(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr("food_common.http.time", clock)
    return clock


# -- CircuitBreaker --------------------------------------------------------------------------


def test_breaker_opens_after_threshold_consecutive_failures(clock):
    breaker = CircuitBreaker(threshold=3, reset_after=5)
    for _ in range(2):
        breaker.record_failure()
        assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.advance(4.9)
    assert not breaker.allow()


def test_success_resets_the_failure_count(clock):
    breaker = CircuitBreaker(threshold=3, reset_after=5)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_half_open_lets_one_trial_through_then_closes_on_success(clock):
    breaker = CircuitBreaker(threshold=2, reset_after=5)
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(5)
    assert breaker.state == "half_open"
    assert breaker.allow()  # the one trial
    assert not breaker.allow()  # nobody else while it runs
    assert not breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"
    assert all(breaker.allow() for _ in range(5))


def test_failed_trial_opens_again_for_a_full_period(clock):
    breaker = CircuitBreaker(threshold=2, reset_after=5)
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(6)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.advance(4.9)
    assert not breaker.allow()
    clock.advance(0.1)
    assert breaker.state == "half_open"
    assert breaker.allow()


# -- UpstreamSet -----------------------------------------------------------------------------


def urls(upstreams):
    return [u.base_url for u in upstreams]


def test_upstream_set_goes_round_robin():
    upstreams = UpstreamSet("svc", ["http://a/", "http://b", "http://c"])
    assert urls(upstreams.candidates()) == ["http://a", "http://b", "http://c"]
    assert urls(upstreams.candidates()) == ["http://b", "http://c", "http://a"]
    assert urls(upstreams.candidates()) == ["http://c", "http://a", "http://b"]
    assert urls(upstreams.candidates()) == ["http://a", "http://b", "http://c"]


def test_upstream_set_skips_open_copies(clock):
    upstreams = UpstreamSet("svc", ["http://a", "http://b", "http://c"], threshold=2)
    for _ in range(2):
        upstreams.upstreams[1].breaker.record_failure()
    assert urls(upstreams.candidates()) == ["http://a", "http://c"]
    assert urls(upstreams.candidates()) == ["http://c", "http://a"]
    assert urls(upstreams.candidates()) == ["http://c", "http://a"]
    for upstream in upstreams.upstreams:
        for _ in range(2):
            upstream.breaker.record_failure()
    assert upstreams.candidates() == []


def test_a_half_open_copy_that_was_not_tried_comes_back(clock):
    upstreams = UpstreamSet("svc", ["http://a", "http://b"], threshold=1, reset_after=5)
    a, b = upstreams.upstreams
    b.breaker.record_failure()  # b is open
    clock.advance(6)  # b is half-open
    first = upstreams.candidates()  # start at a: [a, b]
    assert urls(first) == ["http://a", "http://b"]
    a.breaker.record_success()  # a answered: b was not tried this time
    clock.advance(60)
    later = [urls(upstreams.candidates()) for _ in range(4)]
    assert any("http://b" in candidates for candidates in later)


def test_upstream_set_needs_a_url():
    with pytest.raises(ValueError, match="orders"):
        UpstreamSet("orders", [])


def test_upstream_host_port():
    upstreams = UpstreamSet("svc", ["http://a:8001", "https://b", "http://c"])
    assert [u.host_port for u in upstreams.upstreams] == [("a", 8001), ("b", 443), ("c", 80)]


# -- ServiceClient ---------------------------------------------------------------------------


class JsonHandler(BaseHTTPRequestHandler):
    """Answers JSON describing the request; /fail answers 503, /slow sleeps first."""

    protocol_version = "HTTP/1.1"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((self.command, self.path, dict(self.headers), body))
        if self.path == "/slow":
            time.sleep(1.5)
        status = 503 if self.path == "/fail" else 200
        payload = json.dumps(
            {"path": self.path, "port": self.server.server_address[1], "body": body.decode()}
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def request_id():
    token = current_request_id.set("svc-call-1")
    yield "svc-call-1"
    current_request_id.reset(token)


def test_client_gets_json_and_passes_token_and_request_id(http_server, request_id):
    base = http_server(JsonHandler)
    client = ServiceClient("catalog", [base])
    response = client.request("GET", "/menus/1", token="tok-123")
    assert response.status == 200
    assert response.json()["path"] == "/menus/1"
    assert response.headers["Content-Type"] == "application/json"
    ((method, path, headers, _),) = http_server.servers[0].requests
    assert (method, path) == ("GET", "/menus/1")
    assert headers["Authorization"] == "Bearer tok-123"
    assert headers["X-Request-ID"] == "svc-call-1"
    assert headers["Accept"] == "application/json"


def test_client_posts_json(http_server):
    client = ServiceClient("orders", [http_server(JsonHandler)])
    response = client.request("POST", "/orders", json_body={"a": 1}, headers={"X-Extra": "1"})
    assert json.loads(response.json()["body"]) == {"a": 1}
    _, _, headers, _ = http_server.servers[0].requests[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Extra"] == "1"
    assert "Authorization" not in headers


def test_5xx_is_returned_and_counted_as_a_failure(http_server):
    client = ServiceClient("orders", [http_server(JsonHandler)])
    response = client.request("GET", "/fail")
    assert response.status == 503
    assert client.upstreams.upstreams[0].breaker.failures == 1
    client.request("GET", "/ok")
    assert client.upstreams.upstreams[0].breaker.failures == 0


def test_closed_port_is_unavailable_and_counted():
    client = ServiceClient("payments", [f"http://127.0.0.1:{closed_port()}"])
    with pytest.raises(UpstreamError) as raised:
        client.request("POST", "/payments", json_body={})
    assert raised.value.kind == "unavailable"
    assert raised.value.service == "payments"
    assert client.upstreams.upstreams[0].breaker.failures == 1


def test_open_circuit_fails_fast_without_calling(http_server):
    base = http_server(JsonHandler)
    client = ServiceClient("orders", [base])
    for _ in range(3):
        client.upstreams.upstreams[0].breaker.record_failure()
    with pytest.raises(UpstreamError) as raised:
        client.request("GET", "/x")
    assert raised.value.kind == "unavailable"
    assert http_server.servers[0].requests == []


def test_next_copy_is_tried_when_the_first_refuses(http_server):
    dead = f"http://127.0.0.1:{closed_port()}"
    live = http_server(JsonHandler)
    client = ServiceClient("catalog", [dead, live])
    response = client.request("POST", "/x", json_body={"n": 1})  # nothing was sent to `dead`
    assert response.status == 200
    dead_up, live_up = client.upstreams.upstreams
    assert dead_up.breaker.failures == 1
    assert live_up.breaker.failures == 0
    assert len(http_server.servers[0].requests) == 1


@pytest.fixture
def blackhole():
    """A base URL whose port never completes a connection (its accept queue is full)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    for sock in [*fillers, listener]:
        sock.close()


def test_connect_timeout_is_an_upstream_error_and_counted(blackhole):
    client = ServiceClient("catalog", [blackhole], connect_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(UpstreamError):
        client.request("GET", "/x")
    assert time.monotonic() - started < 0.5
    assert client.upstreams.upstreams[0].breaker.failures == 1


def test_next_copy_is_tried_when_the_first_does_not_accept(http_server, blackhole):
    client = ServiceClient("catalog", [blackhole, http_server(JsonHandler)], connect_timeout=0.2)
    response = client.request("POST", "/x", json_body={})
    assert response.status == 200
    assert client.upstreams.upstreams[0].breaker.failures == 1


def test_read_timeout_is_an_upstream_timeout(http_server):
    client = ServiceClient("catalog", [http_server(JsonHandler)], read_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(UpstreamError) as raised:
        client.request("GET", "/slow")
    assert raised.value.kind == "timeout"
    assert time.monotonic() - started < 1.0  # did not wait for the answer
    assert client.upstreams.upstreams[0].breaker.failures == 1


class PeerRecordingHandler(JsonHandler):
    """JsonHandler that notes each request's client port; /close drops the connection after answering."""

    def _answer(self):
        self.server.__dict__.setdefault("peers", []).append(self.client_address[1])
        super()._answer()
        if self.path == "/close":
            self.close_connection = True  # no `Connection: close`: the client learns it later

    do_GET = do_POST = _answer


def test_client_reuses_its_connection(http_server):
    client = ServiceClient("catalog", [http_server(PeerRecordingHandler)])
    for _ in range(3):
        assert client.request("GET", "/x").status == 200
    assert len(set(http_server.servers[0].peers)) == 1


def test_a_kept_alive_connection_the_server_dropped_is_replaced(http_server):
    client = ServiceClient("catalog", [http_server(PeerRecordingHandler)])
    assert client.request("GET", "/close").status == 200
    time.sleep(0.1)  # idle: the server has closed the connection the pool keeps
    assert client.request("GET", "/x").status == 200
    first, second = http_server.servers[0].peers
    assert first != second
    assert client.upstreams.upstreams[0].breaker.failures == 0

"""The public /ready says only a status; the internal port's /ready gives the details."""

import json
import socket
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway import views
from gateway.metrics_server import make_internal_server


class HealthyService(BaseHTTPRequestHandler):
    probes = 0  # the /health requests it has answered

    def do_GET(self):  # noqa: N802
        if self.path == "/health":
            HealthyService.probes += 1
        body = b'{"status": "ok"}'
        self.send_response(200 if self.path == "/health" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002
        pass


def serve(server) -> str:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def database_down() -> None:
    raise ConnectionError("the database does not answer")


@pytest.fixture(autouse=True)
def fresh_readiness():
    """Each test asks the public /ready afresh (it keeps its answer for READY_TTL seconds)."""
    views.public_readiness.clear()
    yield
    views.public_readiness.clear()


@pytest.fixture
def upstreams(settings):
    """Every upstream has a healthy copy; catalog has a second copy that refuses connections."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), HealthyService)
    healthy = serve(server)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings.UPSTREAMS = {
        **settings.UPSTREAMS,
        "auth": [healthy],
        "catalog": [healthy, dead],
        "orders": [healthy],
        "payments": [healthy],
        "delivery": [healthy],
    }
    yield {"healthy": healthy, "dead": dead}
    server.shutdown()
    server.server_close()


@pytest.fixture
def internal_url():
    server = make_internal_server(0, "127.0.0.1")
    yield serve(server)
    server.shutdown()
    server.server_close()


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310 - a test URL
            return reply.status, dict(reply.headers), reply.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.django_db
def test_public_ready_says_only_the_status(client, upstreams):
    reply = client.get("/ready")
    assert reply.status_code == 200
    assert reply.json() == {"status": "ok"}


@pytest.mark.django_db
def test_public_ready_says_degraded_without_naming_the_upstream(client, settings, upstreams):
    settings.UPSTREAMS = {**settings.UPSTREAMS, "payments": [upstreams["dead"]]}
    reply = client.get("/ready")
    assert reply.status_code == 200
    assert reply.json() == {"status": "degraded"}


@pytest.mark.django_db
def test_public_ready_is_unavailable_when_the_gateway_database_fails(client, settings, upstreams):
    settings.READY_CHECKS = {**settings.READY_CHECKS, "database": f"{__name__}.database_down"}
    reply = client.get("/ready")
    assert reply.status_code == 503
    assert reply.json() == {"status": "unavailable"}


@pytest.mark.django_db
def test_public_ready_asked_in_a_loop_probes_the_upstreams_once_a_second(
    client, settings, upstreams, monkeypatch
):
    clock = [1000.0]
    monkeypatch.setattr(views.public_readiness, "clock", lambda: clock[0])
    HealthyService.probes = 0
    for _ in range(50):
        assert client.get("/ready").json() == {"status": "ok"}
    assert HealthyService.probes == 5  # one /health per upstream with a healthy copy, once

    # Within the second the answer stands; after it, the next asker probes again and sees.
    settings.UPSTREAMS = {**settings.UPSTREAMS, "payments": [upstreams["dead"]]}
    clock[0] += views.READY_TTL
    assert client.get("/ready").json() == {"status": "ok"}
    clock[0] += 0.01
    assert client.get("/ready").json() == {"status": "degraded"}
    assert HealthyService.probes == 9  # payments' one copy is the dead one now


@pytest.mark.django_db
def test_internal_ready_reports_each_upstream_copy(settings, upstreams, internal_url):
    settings.UPSTREAMS = {**settings.UPSTREAMS, "payments": [upstreams["dead"]]}
    status, headers, body = get(f"{internal_url}/ready")
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    details = json.loads(body)
    assert details["status"] == "degraded"
    assert details["service"] == "gateway"
    assert details["checks"] == {"database": "ok", "redis": "ok"}
    assert set(details["upstreams"]) == {"auth", "catalog", "orders", "payments", "delivery"}
    assert details["upstreams"]["catalog"][upstreams["healthy"]] == "ok"
    assert details["upstreams"]["catalog"][upstreams["dead"]].startswith("error: ")
    assert details["degraded"] == ["payments"]
    assert "failed" not in details


@pytest.mark.django_db
def test_internal_ready_is_503_when_the_gateway_database_fails(settings, upstreams, internal_url):
    settings.READY_CHECKS = {**settings.READY_CHECKS, "database": f"{__name__}.database_down"}
    status, _, body = get(f"{internal_url}/ready")
    assert status == 503
    details = json.loads(body)
    assert details["status"] == "unavailable" and details["failed"] == ["database"]


def test_internal_port_still_serves_the_metrics(internal_url):
    status, headers, body = get(f"{internal_url}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    assert b"# TYPE " in body

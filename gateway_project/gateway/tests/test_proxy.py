"""The forwarding path against a stand-in upstream HTTP server (the real services are exercised by
the cross-service tests in the top-level tests/)."""

import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from food_common.testing import make_access_token
from gateway.proxy import GatewayApplication


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802
        if self.path.startswith("/restaurants/slow"):
            time.sleep(1.5)
        if self.path.startswith("/restaurants/big"):
            body = b"x" * (1024 * 1024)
        else:
            body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Keep-Alive", "timeout=5")
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def upstream_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def gateway(settings, upstream_url):
    settings.UPSTREAMS = {**settings.UPSTREAMS, "catalog": [upstream_url], "orders": [upstream_url]}
    settings.GATEWAY_READ_TIMEOUTS = {**settings.GATEWAY_READ_TIMEOUTS, "catalog": 0.5}
    settings.GATEWAY_RATE_LIMIT = "0"

    def django_app(environ, start_response):
        start_response("200 OK", [])
        return [b"django"]

    return GatewayApplication(django_app=django_app)


def call(app, method, path, body=b"", **environ):
    captured = {}

    def start_response(status, headers):
        captured["status"], captured["headers"] = status, dict(headers)

    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": environ.pop("query", ""),
        "REMOTE_ADDR": "10.1.2.3",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "CONTENT_LENGTH": str(len(body)) if body else "",
        **environ,
    }
    chunks = b"".join(app(env, start_response))
    return int(captured["status"][:3]), captured["headers"], chunks


def test_forwards_path_query_and_headers_without_hop_by_hop(gateway):
    status, headers, body = call(
        gateway,
        "GET",
        "/restaurants",
        query="page=2",
        HTTP_CONNECTION="keep-alive, X-Secret-Hop",
        HTTP_X_SECRET_HOP="1",
        HTTP_X_CUSTOM="kept",
        HTTP_X_FORWARDED_FOR="1.1.1.1",
        HTTP_X_REQUEST_ID="rid-123",
    )
    assert status == 200
    seen = {k.lower(): v for k, v in json.loads(body)["headers"].items()}
    assert json.loads(body)["path"] == "/restaurants?page=2"
    assert seen["x-custom"] == "kept"
    assert "x-secret-hop" not in seen
    assert seen["x-forwarded-for"] == "1.1.1.1, 10.1.2.3"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-request-id"] == "rid-123"
    assert "keep-alive" not in {k.lower() for k in headers}


def test_forwards_body_and_streams_large_answers(gateway):
    token = make_access_token(7)
    status, _, body = call(
        gateway,
        "POST",
        "/orders",
        body=b'{"a": 1}',
        CONTENT_TYPE="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert (status, body) == (201, b'{"a": 1}')
    status, _, body = call(gateway, "GET", "/restaurants/big")
    assert status == 200 and len(body) == 1024 * 1024


def test_protected_route_without_token_is_401_json_and_never_forwarded(gateway):
    status, headers, body = call(gateway, "GET", "/orders")
    assert status == 401
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["code"] == "not_authenticated"


def test_slow_upstream_is_504_json(gateway):
    status, _, body = call(gateway, "GET", "/restaurants/slow")
    assert status == 504 and json.loads(body)["code"] == "upstream_timeout"


def test_oversize_body_is_413_before_reading(gateway, settings):
    status, _, body = call(
        gateway,
        "POST",
        "/restaurants",
        CONTENT_LENGTH=str(10**9),
        HTTP_AUTHORIZATION=f"Bearer {make_access_token(1, role='admin')}",
    )
    assert status == 413 and json.loads(body)["code"] == "request_too_large"


def test_other_paths_go_to_django(gateway):
    assert call(gateway, "GET", "/health")[2] == b"django"

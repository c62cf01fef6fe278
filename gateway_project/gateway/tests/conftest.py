"""A stand-in upstream HTTP server that records what it receives (`upstream_url`, `RECEIVED`)."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

RECEIVED: list[dict] = []


class Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, status: int, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        RECEIVED.append({"method": "GET", "path": self.path, "headers": dict(self.headers)})
        if self.path.startswith("/restaurants/slow"):
            time.sleep(1.5)
        if self.path.startswith("/restaurants/big"):
            return self.answer(200, b"x" * (1024 * 1024))
        if self.path.startswith("/restaurants/drop"):
            self.close_connection = True
            self.connection.shutdown(2)
            return None
        if self.path.startswith("/payments/provider-timeout"):
            return self.answer(504, b'{"code": "provider_timeout"}')
        body = json.dumps({"path": self.path, "headers": dict(self.headers)}).encode()
        return self.answer(200, body)

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        RECEIVED.append(
            {"method": "POST", "path": self.path, "headers": dict(self.headers), "body": body}
        )
        self.answer(201, body)

    def do_PUT(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        RECEIVED.append(
            {"method": "PUT", "path": self.path, "headers": dict(self.headers), "body": body}
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def upstream_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()

"""The gateway's internal port (never the public one): Prometheus metrics, and `/ready` in detail.

`GET /ready` here answers what the public `/ready` keeps to itself: the gateway's own checks and
each copy of each upstream (`gateway.views.readiness`); every other path answers the metrics.
Built from prometheus_client's own WSGI app and threading server, as its start_http_server is.
"""

import json
import logging
import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

logger = logging.getLogger(__name__)


def start_metrics_server(port: int, address: str) -> None:
    """Start the internal server once per process; a second server process logs and goes on.

    With more than one server process (WEB_WORKERS > 1) only the first binds the port: scrape
    figures are then one process's; run one process per pod, or set PROMETHEUS_MULTIPROC_DIR.
    """
    try:
        server = make_internal_server(port, address)
    except OSError as exc:
        logger.warning("gateway metrics not served on %s:%s: %s", address, port, exc)
        return
    threading.Thread(target=server.serve_forever, name="gateway-metrics", daemon=True).start()


def make_internal_server(port: int, address: str) -> WSGIServer:
    """Return the internal server bound to `address`:`port` (0: any free port), not yet serving."""

    class Server(ThreadingWSGIServer):
        address_family = _address_family(address, port)

    return make_server(address, port, internal_app, Server, handler_class=_QuietHandler)


def _address_family(address: str, port: int) -> socket.AddressFamily:
    """Return the family of `address` (IPv6 too), as prometheus_client's own server picks it."""
    infos = socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
    return infos[0][0]


class _QuietHandler(WSGIRequestHandler):
    """No access line per scrape on stderr."""

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


_metrics_app = make_wsgi_app()


def internal_app(environ, start_response):
    """Answer `/ready` with the readiness details, anything else with the metrics."""
    if environ.get("PATH_INFO") == "/ready":
        return _ready(environ, start_response)
    return _metrics_app(environ, start_response)


def _ready(environ, start_response):
    method = environ.get("REQUEST_METHOD", "GET")
    if method not in ("GET", "HEAD"):
        start_response("405 Method Not Allowed", [("Allow", "GET, HEAD")])
        return [b""]
    from django.db import connections

    from gateway.views import readiness  # Django is set up by the time anyone asks

    try:
        details, status = readiness()
    finally:
        # Each request runs in a thread of its own: its database connections die with it.
        connections.close_all()
    body = json.dumps(details).encode()
    start_response(
        "200 OK" if status == 200 else "503 Service Unavailable",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [b"" if method == "HEAD" else body]

"""Shared fixtures: the test Celery app, a broker that can be down then up, local HTTP servers."""

import contextlib
import os
import socket
import sys
import threading
import uuid
from dataclasses import replace
from http.server import ThreadingHTTPServer

import pytest
import redis

from tests.celery import app as test_celery_app

# The machine's broker database (or bin/embedded.py's private one): unique keys only.
BROKER_REDIS_URL = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")


def closed_port() -> int:
    """Return a local TCP port nothing listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _drop_broker_pools(app) -> None:
    """Forget the app's broker pools, so the next send uses `broker_url` as it is now.

    Not closed: kombu keeps one pool per URL for the process and would hand the closed one back.
    """
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    app._pool = None


@pytest.fixture
def celery_app():
    """The tests' Celery app, with its broker settings and eagerness restored after the test."""
    keys = (
        "broker_url",
        "broker_connection_timeout",
        "task_always_eager",
        "task_eager_propagates",
    )
    saved = {key: test_celery_app.conf[key] for key in keys}
    yield test_celery_app
    _drop_broker_pools(test_celery_app)
    test_celery_app.conf.update(saved)


@pytest.fixture
def use_broker(celery_app, monkeypatch):
    """Return `use(url)`: send through the broker at `url` from now on (restored after the test)."""

    def use(url: str, connection_timeout: float = 0.5):
        # Celery prefers a CELERY_BROKER_URL variable (bin/embedded.py sets one) to broker_url.
        monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
        _drop_broker_pools(celery_app)
        celery_app.conf.broker_url = url
        celery_app.conf.broker_connection_timeout = connection_timeout

    return use


@pytest.fixture
def eager(celery_app):
    """Run tasks in this process (`task_always_eager`), failures not propagated."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = False
    return celery_app


@pytest.fixture
def broker_redis():
    """A client of the broker's Redis database."""
    client = redis.Redis.from_url(BROKER_REDIS_URL, socket_timeout=2)
    yield client
    client.close()


@pytest.fixture
def test_queue(monkeypatch, broker_redis):
    """A unique queue the contract sends "test.happened" to; its Redis keys are deleted afterwards."""
    from food_common.events.contract import get_contract

    queue = f"test-{uuid.uuid4().hex}"
    events = get_contract().events
    monkeypatch.setitem(
        events, "test.happened", replace(events["test.happened"], consumers=(queue,))
    )
    yield queue
    keys = list(broker_redis.scan_iter(match=f"*{queue}*", count=1000))
    if keys:
        broker_redis.delete(*keys)


@pytest.fixture
def handler_state():
    """The test handler's switches and calls, reset around the test."""
    from tests import handlers

    handlers.BROKEN.update(on=False, duplicate_note=False)
    handlers.CALLS.clear()
    yield handlers
    handlers.BROKEN.update(on=False, duplicate_note=False)
    handlers.CALLS.clear()


class TcpProxy:
    """A local port forwarded to Redis: refused until `start()`, so a broker can come back."""

    def __init__(self, target=None):
        broker = redis.Redis.from_url(BROKER_REDIS_URL).connection_pool.connection_kwargs
        self.target = target or (broker["host"], broker["port"])
        self.port = closed_port()
        self.url = f"redis://127.0.0.1:{self.port}/{broker.get('db', 0)}"
        self._server = None
        self._sockets = []
        self._stopped = threading.Event()

    def start(self):
        self._server = socket.create_server(("127.0.0.1", self.port))
        self._server.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stopped.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def stop(self):
        self._stopped.set()
        if self._server is not None:
            self._server.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture
def broker_proxy():
    """A broker URL that is down until `broker_proxy.start()` (then it is the real Redis)."""
    proxy = TcpProxy()
    yield proxy
    proxy.stop()


class QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (a read timeout under test) is expected, not an error to print.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def http_server():
    """Return `start(handler_class) -> base URL`: a local threaded HTTP server for the test."""
    servers = []

    def start(handler_class) -> str:
        server = QuietHTTPServer(("127.0.0.1", 0), handler_class)
        server.requests = []  # handlers append what they saw
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    start.servers = servers
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()

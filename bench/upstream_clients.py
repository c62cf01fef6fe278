"""The gateway's upstream HTTP client: aiohttp's ClientSession next to other async client libraries.

    python bench/upstream_clients.py check                      # what each client sends and reports
    python bench/upstream_clients.py measure [--count 4000] [--rounds 5] [--rate 0] [--max-seconds 300]
    valgrind --tool=callgrind --callgrind-out-file=/dev/null \\
        python bench/upstream_clients.py run --client aiohttp --count 2500

Issue 11's `gateway_cpu_ms_per_req` misses its 0.4 ms target, and two thirds of the forwarding
path's own Python is aiohttp's client (bench/README.md). This asks whether another maintained
client costs clearly less CPU per forwarded request, and whether it can forward as the gateway must.

`check` runs each client, on uvloop, against a recording upstream (raw asyncio sockets in a thread:
it keeps every request's bytes) and prints, per client, what the gateway relies on: the request
target arriving byte for byte (dot segments, `%2F`, `%7e`, a backslash, quotes), headers arriving as
given (nothing added but Host, duplicates kept), no decompression, no redirect followed, repeated
answer headers kept, a 4 MB answer read in chunks, a refused port, a connect timeout (a listener
whose backlog is full), a read timeout and a dropped connection told apart, and connection reuse.

`measure` starts nginx (one worker) serving a 3 KB JSON page (20 restaurants) as a static file,
then forwards `--count` GETs per client with 32 in flight on one uvloop loop, each with the headers
the gateway sends (a bearer token, X-Forwarded-*, a request id), reading the answer's raw headers
and body as `gateway.proxy.relay` does; in interleaved rounds (the order rotates) it reports this
process's CPU time (`time.process_time`, all threads) and wall time per request. With `--rate 700`
each request is its own task, started at that rate, so the loop sleeps between answers as the
gateway's does in front of the ~700 req/s catalog. `run` is one client alone (its own nginx, or
`--port` of a static upstream already listening), for `valgrind --tool=callgrind` (instruction
counts do not depend on what else the machine does): run it at two counts and divide the difference
of the two totals by the difference of the counts, which removes start-up and imports.

The candidates other than aiohttp are not dependencies of the project: install them in a scratch
venv (`pip install aiohttp==3.14.5 uvloop pyreqwest httpr curl-cffi urllib3-future niquests
'httpcore[asyncio]' aiosonic`); a client whose package is missing is skipped. Never in the
project's venv: urllib3-future (and niquests, which needs it) overwrites the `urllib3` package at
start-up.
"""

import argparse
import asyncio
import contextlib
import gzip
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

CONCURRENCY = 32
PAGE_PATH = "/restaurants?page=1"
TOKEN = "eyJhbGciOiJSUzI1NiIsImtpZCI6ImJlbmNoIn0." + "x" * 280 + ".sig"


def gateway_headers(request_id: str) -> list[tuple[str, str]]:
    """What `Request.upstream_headers` sends for wrk's cached GET (wrk sends only Host and the token)."""
    return [
        ("host", "127.0.0.1:8000"),
        ("authorization", f"Bearer {TOKEN}"),
        ("x-forwarded-for", "127.0.0.1"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", request_id),
    ]


# -- the clients ---------------------------------------------------------------------------------
class Client:
    """One library, configured as the gateway needs it: send, read status, raw headers, body."""

    name = ""

    def __init__(self, connect_timeout: float = 5.0, read_timeout: float = 60.0):
        # Long by default: under valgrind every client runs some 50 times slower.
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def fetch(self, method, base, target, headers, body=b"") -> tuple[int, list, bytes]:
        raise NotImplementedError

    async def chunks(self, method, base, target, headers) -> tuple[int, int, int]:
        """Stream the answer: (status, number of chunks, bytes)."""
        raise NotImplementedError

    def kind(self, exc: BaseException) -> str:
        """What the gateway's circuit rules need to know of a failure."""
        return f"other:{type(exc).__name__}"


class Aiohttp(Client):
    """Today's forwarding path (gateway.proxy.forward and relay)."""

    name = "aiohttp"

    async def open(self):
        import aiohttp

        self.aiohttp = aiohttp
        from yarl import URL

        self.URL = URL
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, limit_per_host=256, ttl_dns_cache=300),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            cookie_jar=aiohttp.DummyCookieJar(),
        )
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
        )

    async def close(self):
        await self.session.close()

    async def fetch(self, method, base, target, headers, body=b""):
        response = await self.session.request(
            method,
            self.URL(base + target, encoded=True),
            headers=headers,
            data=body or None,
            timeout=self.timeout,
            allow_redirects=False,
        )
        raw = [(k.lower(), v) for k, v in response.raw_headers]
        length = response.content_length
        data = await response.read()
        assert length is None or len(data) == length
        return response.status, raw, data

    async def chunks(self, method, base, target, headers):
        response = await self.session.request(
            method,
            self.URL(base + target, encoded=True),
            headers=headers,
            timeout=self.timeout,
            allow_redirects=False,
        )
        count = size = 0
        async for chunk in response.content.iter_chunked(65536):
            count, size = count + 1, size + len(chunk)
        return response.status, count, size

    def kind(self, exc):
        a = self.aiohttp
        if isinstance(exc, (a.ClientConnectorError,)):
            return "refused"
        if isinstance(exc, a.ConnectionTimeoutError):
            return "connect_timeout"
        if isinstance(exc, a.ServerTimeoutError):
            return "read_timeout"
        if isinstance(exc, (a.ServerDisconnectedError, a.ClientOSError)):
            return "dropped"
        return super().kind(exc)


class AiohttpLean(Aiohttp):
    """aiohttp with what the gateway does not use left out where the API allows it.

    The URL is built from parts (no parsing of the joined string), the timeout and redirect
    settings are the session's, headers go as a ready CIMultiDict, and the answer's headers are
    read raw.
    """

    name = "aiohttp-lean"

    async def open(self):
        import aiohttp
        from multidict import CIMultiDict
        from yarl import URL

        self.aiohttp, self.URL, self.CIMultiDict = aiohttp, URL, CIMultiDict
        self.timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.connect_timeout, sock_read=self.read_timeout
        )
        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=0, limit_per_host=256, ttl_dns_cache=None, use_dns_cache=False
            ),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=self.timeout,
            requote_redirect_url=False,
        )
        self.bases = {}

    async def fetch(self, method, base, target, headers, body=b""):
        url_base = self.bases.get(base)
        if url_base is None:
            url_base = self.bases[base] = self.URL(base)
        path, _, query = target.partition("?")
        url = self.URL.build(
            scheme=url_base.scheme,
            host=url_base.raw_host,
            port=url_base.port,
            path=path,
            query_string=query,
            encoded=True,
        )
        async with self.session.request(
            method, url, headers=self.CIMultiDict(headers), data=body or None, allow_redirects=False
        ) as response:
            return response.status, response.raw_headers, await response.read()


class Gateway(Client):
    """The gateway's own client since 2026-12-03 (gateway_project/gateway/upstream.py)."""

    name = "gateway"

    async def open(self):
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway_project"))
        from gateway import upstream

        self.upstream = upstream
        self.pool = upstream.UpstreamPool(limit_per_host=256)

    async def close(self):
        self.pool.close()

    async def answer(self, method, base, target, headers, body=b""):
        host, _, port = base.removeprefix("http://").partition(":")
        return await self.pool.request(
            (host, int(port or 80)),
            method,
            target,
            list(headers),
            body,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    async def fetch(self, method, base, target, headers, body=b""):
        answer = await self.answer(method, base, target, headers, body)
        return answer.status, answer.headers, await answer.read()

    async def chunks(self, method, base, target, headers):
        answer = await self.answer(method, base, target, headers)
        count = size = 0
        async for chunk in answer.chunks():
            count, size = count + 1, size + len(chunk)
        return answer.status, count, size

    def kind(self, exc):
        u = self.upstream
        if isinstance(exc, u.ConnectFailed):
            return "connect_timeout" if "no connection within" in str(exc) else "refused"
        if isinstance(exc, u.ReadTimedOut):
            return "read_timeout"
        if isinstance(exc, u.Dropped):
            return "dropped"
        return super().kind(exc)


class Pyreqwest(Client):
    """pyreqwest: Rust reqwest (hyper) on its own tokio thread; one client per upstream."""

    name = "pyreqwest"

    async def open(self):
        from datetime import timedelta

        import pyreqwest.exceptions as errors
        from pyreqwest.client import ClientBuilder

        self.errors = errors
        self.client = (
            ClientBuilder()
            .follow_redirects(False)
            .gzip(False)
            .brotli(False)
            .zstd(False)
            .deflate(False)
            .referer(False)
            .connect_timeout(timedelta(seconds=self.connect_timeout))
            .read_timeout(timedelta(seconds=self.read_timeout))
            .pool_max_idle_per_host(256)
            .http1_lower_case_headers()
            .build()
        )

    async def close(self):
        await self.client.close()

    async def fetch(self, method, base, target, headers, body=b""):
        builder = self.client.request(method, base + target).headers(headers)
        if body:
            builder = builder.body_bytes(body)
        response = await builder.build().send()
        raw = list(response.headers.items())
        return response.status, raw, bytes(await response.bytes())

    async def chunks(self, method, base, target, headers):
        count = size = 0
        async with (
            self.client.request(method, base + target).headers(headers).build_streamed() as response
        ):
            reader = response.body_reader
            while (chunk := await reader.read_chunk()) is not None:
                count, size = count + 1, size + len(chunk)
            return response.status, count, size

    def kind(self, exc):
        e = self.errors
        if isinstance(exc, e.ConnectTimeoutError):
            return "connect_timeout"
        if isinstance(exc, e.ReadTimeoutError):
            return "read_timeout"
        if isinstance(exc, e.ConnectError):
            return "refused"
        if isinstance(exc, (e.ReadError, e.NetworkError)):
            return "dropped"
        return super().kind(exc)


class Httpr(Client):
    """httpr: Rust reqwest behind a thread pool (each call is run_in_executor)."""

    name = "httpr"

    async def open(self):
        import httpr

        self.httpr = httpr
        self.client = httpr.AsyncClient(
            timeout=self.read_timeout,
            cookie_store=False,
            referer=False,
            follow_redirects=False,
            http1_only=True,
            max_concurrency=CONCURRENCY,
        )

    async def close(self):
        await self.client.aclose()

    async def fetch(self, method, base, target, headers, body=b""):
        response = await self.client.request(
            method, base + target, headers=dict(headers), content=body or None
        )
        return response.status_code, list(response.headers.items()), response.content

    def kind(self, exc):
        name = type(exc).__name__
        if "Connect" in name and "Timeout" in name:
            return "connect_timeout"
        if "Timeout" in name:
            return "read_timeout"
        if "Connect" in name:
            return "refused"
        return super().kind(exc)


class CurlCffi(Client):
    """curl_cffi's AsyncSession: libcurl's multi interface on the loop's reader callbacks."""

    name = "curl-cffi"

    async def open(self):
        from curl_cffi import CurlOpt
        from curl_cffi.requests import AsyncSession
        from curl_cffi.requests import exceptions as errors

        self.errors = errors
        self.session = AsyncSession(
            max_clients=CONCURRENCY,
            allow_redirects=False,
            default_headers=False,
            curl_options={CurlOpt.PATH_AS_IS: 1},
        )

    async def close(self):
        await self.session.close()

    async def fetch(self, method, base, target, headers, body=b""):
        response = await self.session.request(
            method,
            base + target,
            headers=headers,
            data=body or None,
            timeout=(self.connect_timeout, self.read_timeout),
            allow_redirects=False,
            accept_encoding=None,
            quote=False,
            default_headers=False,
        )
        raw = [(k.lower(), v) for k, v in response.headers.multi_items()]
        return response.status_code, raw, response.content

    def kind(self, exc):
        e = self.errors
        if isinstance(exc, e.ConnectTimeout):
            return "connect_timeout"
        if isinstance(exc, e.Timeout):
            return "read_timeout"
        if isinstance(exc, e.ConnectionError):
            return "refused_or_dropped"
        return super().kind(exc)


class Urllib3Future(Client):
    """urllib3-future's AsyncPoolManager: the target goes to the connection pool as given."""

    name = "urllib3-future"

    async def open(self):
        import urllib3_future as u3

        self.u3 = u3
        self.pm = u3.AsyncPoolManager(num_pools=16, maxsize=256, block=False, retries=False)
        self.timeout = u3.Timeout(connect=self.connect_timeout, read=self.read_timeout)
        self.pools = {}

    async def close(self):
        await self.pm.clear()

    async def pool(self, base):
        pool = self.pools.get(base)
        if pool is None:
            pool = self.pools[base] = await self.pm.connection_from_url(base)
        return pool

    async def fetch(self, method, base, target, headers, body=b""):
        send = self.u3.HTTPHeaderDict()
        for key, value in headers:
            send.add(key, value)
        send.setdefault("user-agent", self.u3.util.SKIP_HEADER)
        send.setdefault("accept-encoding", self.u3.util.SKIP_HEADER)
        response = await (await self.pool(base)).urlopen(
            method,
            target,
            headers=send,
            body=body or None,
            redirect=False,
            retries=False,
            decode_content=False,
            timeout=self.timeout,
            preload_content=False,
            assert_same_host=False,
        )
        data = await response.read(decode_content=False)
        response.release_conn()
        return response.status, list(response.headers.items()), data

    def kind(self, exc):
        e = self.u3.exceptions
        if isinstance(exc, e.NewConnectionError):  # a subclass of ConnectTimeoutError
            return "refused"
        if isinstance(exc, e.ConnectTimeoutError):
            return "connect_timeout"
        if isinstance(exc, e.ReadTimeoutError):
            return "read_timeout"
        if isinstance(exc, (e.ProtocolError,)):
            return "dropped"
        return super().kind(exc)


class Niquests(Client):
    """niquests' AsyncSession (requests' API on urllib3-future)."""

    name = "niquests"

    async def open(self):
        import niquests

        self.niquests = niquests
        self.session = niquests.AsyncSession(pool_connections=16, pool_maxsize=256, retries=0)
        self.session.trust_env = False

    async def close(self):
        await self.session.close()

    async def fetch(self, method, base, target, headers, body=b""):
        response = await self.session.request(
            method,
            base + target,
            headers=headers,
            data=body or None,
            allow_redirects=False,
            timeout=(self.connect_timeout, self.read_timeout),
        )
        return response.status_code, list(response.headers.items()), response.content


class Httpcore(Client):
    """httpcore's AsyncConnectionPool (h11): the target is given as bytes and sent as is."""

    name = "httpcore"

    async def open(self):
        import httpcore

        self.httpcore = httpcore
        self.pool = httpcore.AsyncConnectionPool(max_connections=256, max_keepalive_connections=256)
        self.extensions = {
            "timeout": {
                "connect": self.connect_timeout,
                "read": self.read_timeout,
                "write": self.read_timeout,
                "pool": self.read_timeout,
            }
        }
        self.origins = {}

    async def close(self):
        await self.pool.aclose()

    async def fetch(self, method, base, target, headers, body=b""):
        origin = self.origins.get(base)
        if origin is None:
            host, _, port = base.removeprefix("http://").partition(":")
            origin = self.origins[base] = (host.encode(), int(port))
        url = self.httpcore.URL(
            scheme=b"http", host=origin[0], port=origin[1], target=target.encode()
        )
        send = [(k.encode(), v.encode()) for k, v in headers]
        if body:
            send.append((b"content-length", str(len(body)).encode()))
        response = await self.pool.request(
            method.encode(), url, headers=send, content=body or None, extensions=self.extensions
        )
        return response.status, response.headers, response.content

    def kind(self, exc):
        h = self.httpcore
        if isinstance(exc, h.ConnectTimeout):
            return "connect_timeout"
        if isinstance(exc, h.ReadTimeout):
            return "read_timeout"
        if isinstance(exc, h.ConnectError):
            return "refused"
        if isinstance(exc, (h.RemoteProtocolError, h.ReadError)):
            return "dropped"
        return super().kind(exc)


class Aiosonic(Client):
    """aiosonic's HTTPClient (pure Python on asyncio streams)."""

    name = "aiosonic"

    async def open(self):
        import aiosonic
        from aiosonic.timeout import Timeouts

        self.aiosonic = aiosonic
        self.timeouts = Timeouts(sock_connect=self.connect_timeout, sock_read=self.read_timeout)
        self.client = aiosonic.HTTPClient(
            aiosonic.connectors.TCPConnector(timeouts=self.timeouts), handle_cookies=False
        )

    async def close(self):
        await self.client.connector.cleanup()

    async def fetch(self, method, base, target, headers, body=b""):
        response = await self.client.request(
            base + target,
            method=method,
            headers=headers,
            data=body or None,
            follow=False,
            timeouts=self.timeouts,
        )
        return response.status_code, list(response.raw_headers), await response.content()


CLIENTS = {
    c.name: c
    for c in (
        Aiohttp,
        AiohttpLean,
        Gateway,
        Pyreqwest,
        Httpr,
        CurlCffi,
        Urllib3Future,
        Niquests,
        Httpcore,
        Aiosonic,
    )
}


def available(names: list[str]) -> list[type[Client]]:
    """The clients whose package imports here."""
    modules = {
        "aiohttp": "aiohttp",
        "aiohttp-lean": "aiohttp",
        "gateway": "httptools",
        "pyreqwest": "pyreqwest",
        "httpr": "httpr",
        "curl-cffi": "curl_cffi",
        "urllib3-future": "urllib3_future",
        "niquests": "niquests",
        "httpcore": "httpcore",
        "aiosonic": "aiosonic",
    }
    found = []
    for name in names:
        try:
            __import__(modules[name])
        except ImportError:
            print(f"{name}: not installed, skipped", file=sys.stderr)
            continue
        found.append(CLIENTS[name])
    return found


def new_loop() -> asyncio.AbstractEventLoop:
    import uvloop

    return uvloop.new_event_loop()


# -- measuring -----------------------------------------------------------------------------------
PAGE = json.dumps(
    {
        "count": 200,
        "next": "http://127.0.0.1:8000/restaurants?page=2",
        "previous": None,
        "results": [
            {
                "id": n,
                "name": f"Restaurant {n}",
                "owner_id": 1,
                "address": f"{n} Bench Street",
                "is_open": True,
                "cuisine": "bench",
                "created_at": "2026-12-01T10:00:00Z",
            }
            for n in range(1, 21)
        ],
    }
).encode()

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;
  server {{
    listen 127.0.0.1:{port};
    root {dir};
    location / {{ default_type application/json; try_files /page.json =404; }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def nginx():
    """nginx with one worker serving PAGE as a static file; yields its base URL."""
    workdir = Path(tempfile.mkdtemp(prefix="upstream-clients-"))
    workdir.chmod(0o755)  # nginx's worker runs as another user
    port = free_port()
    (workdir / "page.json").write_bytes(PAGE)
    (workdir / "nginx.conf").write_text(NGINX_CONF.format(dir=workdir, port=port))
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen(
        [binary, "-c", str(workdir / "nginx.conf"), "-e", str(workdir / "nginx-error.log")],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("nginx did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


async def forward_one(client: Client, base: str, request_id: str) -> None:
    status, raw, body = await client.fetch("GET", base, PAGE_PATH, gateway_headers(request_id))
    if status != 200 or len(body) != len(PAGE):
        raise RuntimeError(f"{client.name}: {status}, {len(body)} bytes")
    # What relay() does with the answer's headers.
    [(k, v) for k, v in raw if k not in (b"connection", b"date", b"server")]


async def forward_many(client: Client, base: str, count: int, rate: float = 0) -> None:
    """`count` gateway-like GETs: CONCURRENCY in flight, or one task per request at `rate`/s.

    At full speed the loop always has work; paced, it sleeps between requests and wakes for each
    answer, as the gateway does in front of the ~700 req/s catalog.
    """
    if rate:
        loop = asyncio.get_running_loop()
        start, tasks = loop.time(), set()
        for n in range(count):
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(forward_one(client, base, f"{n:032x}"))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        return
    left = count

    async def worker(n: int):
        nonlocal left
        while left > 0:
            left -= 1
            await forward_one(client, base, f"{n:08x}{left:024x}")

    await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))


def run_one(
    cls: type[Client], base: str, count: int, warmup: int = 200, rate: float = 0
) -> tuple[float, float]:
    """(CPU µs, wall µs) per request of `count` forwarded GETs, after a warm-up, on a new loop."""
    loop = new_loop()
    client = cls()
    try:
        loop.run_until_complete(client.open())
        loop.run_until_complete(forward_many(client, base, warmup))
        cpu, wall = time.process_time(), time.perf_counter()
        loop.run_until_complete(forward_many(client, base, count, rate))
        return (
            (time.process_time() - cpu) / count * 1e6,
            (time.perf_counter() - wall) / count * 1e6,
        )
    finally:
        loop.run_until_complete(client.close())
        loop.close()


def measure(names: list[str], count: int, rounds: int, max_seconds: float, rate: float) -> dict:
    clients = available(names)
    started = time.monotonic()
    results = {cls.name: {"cpu_us": [], "wall_us": []} for cls in clients}
    with nginx() as base:
        for r in range(rounds):
            order = clients[r % len(clients) :] + clients[: r % len(clients)]
            for cls in order:
                if time.monotonic() - started > max_seconds:
                    break
                cpu, wall = run_one(cls, base, count, rate=rate)
                results[cls.name]["cpu_us"].append(round(cpu, 1))
                results[cls.name]["wall_us"].append(round(wall, 1))
                print(f"round {r + 1} {cls.name}: {cpu:.1f} µs CPU, {wall:.1f} µs wall", flush=True)
    return {
        name: {
            **runs,
            "cpu_us_median": round(statistics.median(runs["cpu_us"]), 1),
            "wall_us_median": round(statistics.median(runs["wall_us"]), 1),
        }
        for name, runs in results.items()
        if runs["cpu_us"]
    }


# -- checking ------------------------------------------------------------------------------------
class Recorder:
    """A raw HTTP/1.1 upstream in a thread that keeps the bytes of every request it gets."""

    def __init__(self):
        self.requests: list[tuple[bytes, bytes]] = []
        self.connections = 0
        self.loop = asyncio.new_event_loop()
        self.port = free_port()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()
        self.ready.wait(5)

    def serve(self):
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self.handle, "127.0.0.1", self.port)
        )
        self.ready.set()
        self.loop.run_forever()
        server.close()

    def stop(self):
        async def shutdown():
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop)
        self.thread.join(5)

    async def handle(self, reader, writer):
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                target = lines[0].split(b" ")[1]
                fields = [line.split(b":", 1) for line in lines[1:] if line]
                length = sum(int(v) for k, v in fields if k.strip().lower() == b"content-length")
                chunked = any(k.strip().lower() == b"transfer-encoding" for k, v in fields)
                body = b""
                if length:
                    body = await reader.readexactly(length)
                elif chunked:
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
                        body += (await reader.readexactly(size + 2))[:-2]
                        if not size:
                            break
                self.requests.append((head, body))
                path = target.split(b"?")[0]
                if path == b"/hang":
                    await asyncio.sleep(30)
                    return
                if path == b"/drop":
                    return
                if path == b"/big":
                    part = b"x" * 65536
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (64 * 65536))
                    for _ in range(64):
                        writer.write(part)
                        await writer.drain()
                    continue
                answer_headers = [(b"Content-Type", b"application/json")]
                status = b"200 OK"
                answer = b'{"ok": true}'
                if path == b"/gzip":
                    answer = gzip.compress(b'{"zipped": true}')
                    answer_headers.append((b"Content-Encoding", b"gzip"))
                elif path == b"/redirect":
                    status = b"302 Found"
                    answer_headers.append((b"Location", b"/elsewhere"))
                elif path == b"/cookies":
                    answer_headers += [(b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2")]
                answer_headers.append((b"Content-Length", str(len(answer)).encode()))
                writer.write(
                    b"HTTP/1.1 "
                    + status
                    + b"\r\n"
                    + b"".join(k + b": " + v + b"\r\n" for k, v in answer_headers)
                    + b"\r\n"
                    + answer
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


TARGETS = [
    "/restaurants/../metrics",
    "/restaurants/%2e%2e/metrics",
    "/restaurants/./1",
    "/restaurants/1%2F2%7e%7E?next=%2Fa&x=a+b",
    "/restaurants\\..\\metrics",
    "/restaurants/1?q=\"<>`{}'|",
    "//restaurants//1",
    "/restaurants/caf%C3%A9",
]
GIVEN_HEADERS = [
    ("host", "gateway.example:8000"),
    ("authorization", "Bearer abc"),
    ("x-dup", "1"),
    ("x-dup", "2"),
    ("x-request-id", "req-1"),
]


def parse_head(head: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    lines = head.split(b"\r\n")
    fields = [line.split(b":", 1) for line in lines[1:] if line]
    return lines[0].split(b" ")[1], [(k.strip().lower(), v.strip()) for k, v in fields]


async def check_client(cls: type[Client], recorder: Recorder, full_backlog: int) -> dict:
    base = f"http://127.0.0.1:{recorder.port}"
    client = cls(connect_timeout=1.0, read_timeout=2.0)
    await client.open()
    report: dict = {}

    async def attempt(label, coro):
        try:
            return await asyncio.wait_for(coro, 10)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            report[label] = f"{client.kind(exc)} ({type(exc).__module__}.{type(exc).__name__})"
            return None

    try:
        changed = []
        for target in TARGETS:
            before = len(recorder.requests)
            if await attempt("target " + target, client.fetch("GET", base, target, [])) is None:
                continue
            sent, _ = parse_head(recorder.requests[before][0])
            if sent != target.encode():
                changed.append(f"{target} -> {sent.decode()}")
        report["targets changed"] = changed or "none"

        before = len(recorder.requests)
        await client.fetch("GET", base, "/headers", GIVEN_HEADERS)
        _, fields = parse_head(recorder.requests[before][0])
        given = [(k.encode(), v.encode()) for k, v in GIVEN_HEADERS]
        report["headers added"] = [
            f"{k.decode()}: {v.decode()}" for k, v in fields if (k, v) not in given
        ] or "none"
        report["headers lost"] = [
            f"{k.decode()}: {v.decode()}" for k, v in given if (k, v) not in fields
        ] or "none"

        before = len(recorder.requests)
        await client.fetch(
            "POST", base, "/post", [("content-type", "application/json")], b'{"a":1}'
        )
        head, body = recorder.requests[before]
        _, fields = parse_head(head)
        framing = [
            f"{k.decode()}: {v.decode()}"
            for k, v in fields
            if k in (b"content-length", b"transfer-encoding")
        ]
        intact = "intact" if body == b'{"a":1}' else repr(body)
        report["POST framing"] = f"{framing}, body {intact}"

        status, raw, body = await client.fetch("GET", base, "/gzip", [])
        report["gzip answer"] = (
            "raw bytes kept" if body[:2] == b"\x1f\x8b" else f"decoded: {body!r}"
        )
        result = await attempt("redirect", client.fetch("GET", base, "/redirect", []))
        if result:
            report["redirect"] = "not followed" if result[0] == 302 else f"followed: {result[0]}"
        status, raw, body = await client.fetch("GET", base, "/cookies", [])
        cookies = [
            v
            for k, v in raw
            if (k.lower() if isinstance(k, str) else k.lower().decode()) == "set-cookie"
        ]
        report["repeated answer headers"] = f"{len(cookies)} Set-Cookie"
        try:
            status, count, size = await client.chunks("GET", base, "/big", [])
            report["4 MB answer streamed"] = f"{count} chunks, {size} bytes"
        except NotImplementedError:
            report["4 MB answer streamed"] = "not tried"

        closed = free_port()
        await attempt("refused port", client.fetch("GET", f"http://127.0.0.1:{closed}", "/", []))
        await attempt(
            "connect timeout", client.fetch("GET", f"http://127.0.0.1:{full_backlog}", "/", [])
        )
        await attempt("read timeout", client.fetch("GET", base, "/hang", []))
        await attempt("dropped", client.fetch("GET", base, "/drop", []))

        connections = recorder.connections
        for _ in range(20):
            await client.fetch("GET", base, "/again", [])
        report["new connections for 20 sequential GETs"] = recorder.connections - connections
    except Exception as exc:  # noqa: BLE001 - reported with what was found before it
        traceback.print_exc()
        report["failed"] = f"{type(exc).__name__}: {exc}"
    finally:
        await client.close()
    return report


def check(names: list[str]) -> dict:
    # A listener that never accepts, its backlog filled: a connect to it neither succeeds nor fails.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    results = {}
    recorder = Recorder()
    try:
        for cls in available(names):
            loop = new_loop()
            try:
                results[cls.name] = loop.run_until_complete(check_client(cls, recorder, port))
            except Exception as exc:  # noqa: BLE001 - one client's failure is its result
                traceback.print_exc()
                results[cls.name] = {"failed": f"{type(exc).__name__}: {exc}"}
            finally:
                loop.close()
            print(cls.name, json.dumps(results[cls.name], indent=2), flush=True)
    finally:
        recorder.stop()
        for sock in fillers:
            sock.close()
        listener.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("check", "measure", "run"))
    parser.add_argument("--client", action="append", choices=sorted(CLIENTS))
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-seconds", type=float, default=300)
    parser.add_argument("--rate", type=float, default=0, help="requests/s (0: 32 in flight)")
    parser.add_argument("--port", type=int, help="run: a static upstream already listening")
    args = parser.parse_args()
    names = args.client or list(CLIENTS)
    if args.mode == "check":
        check(names)
    elif args.mode == "measure":
        print(
            json.dumps(
                measure(names, args.count, args.rounds, args.max_seconds, args.rate), indent=2
            )
        )
    else:
        (cls,) = available(names[:1])
        if args.port:
            cpu, wall = run_one(cls, f"http://127.0.0.1:{args.port}", args.count, 50, args.rate)
        else:
            with nginx() as base:
                cpu, wall = run_one(cls, base, args.count, 50, args.rate)
        print(f"{cls.name}: {cpu:.1f} µs CPU, {wall:.1f} µs wall per request")


if __name__ == "__main__":
    main()

"""The cost of one call between services: today's urllib3 ServiceClient next to the same client on requests.

    python bench/service_client.py [--calls 3000] [--rounds 5] [--max-seconds 120]

Starts a one-worker, one-thread granian WSGI server on a free loopback port (this module's `app`:
a two-item menu answer, 0.5 KB of JSON with the headers a DRF view sends), then, in interleaved
rounds from one thread, sends `--calls` GETs through each client after a warm-up: CPU time of this
process (`time.process_time`) and wall time per call. The server runs in its own process, so the
CPU figures are the calling side's alone; wall time also holds the server's and is noisier on a
shared machine. An order costs `CALLS_PER_ORDER` such calls: the orders service's menu call to the
catalog when it is placed, and the payments service's call to orders when it is paid.

The clients:
- `urllib3`: `food_common.http.ServiceClient` (a urllib3 PoolManager, retries off);
- `requests`: the same client on one pooled `requests.Session` (`HTTPAdapter` with the same pool
  size, retries off, the same connect/read timeouts, redirects not followed), configured as the
  services would need it: `trust_env = False` (urllib3 reads no proxy variables or .netrc either)
  and a cookie jar that keeps nothing (one session serves every user's calls);
- `requests-defaults`: the same with the Session's defaults (environment and cookies on).

requests is not a dependency of the services; the dev requirements bring it (schemathesis needs it).
"""

import argparse
import http.cookiejar
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "common"))

CALLS_PER_ORDER = 2
PATH = "/restaurants/17/menu?ids=101,102"

MENU = json.dumps(
    {
        "restaurant": {"id": 17, "name": "Trattoria 17", "owner_id": 99, "is_open": True},
        "count": 2,
        "results": [
            {
                "id": 100 + n,
                "restaurant_id": 17,
                "name": f"Dish number {n}",
                "description": "A dish the bench orders again and again.",
                "price": "12.50",
                "currency": "EUR",
                "is_available": True,
            }
            for n in (1, 2)
        ],
    }
).encode()

# What a DRF view under our middleware answers besides the body (Django's security headers).
HEADERS = [
    ("Content-Type", "application/json"),
    ("Vary", "Accept"),
    ("Allow", "GET, HEAD, OPTIONS"),
    ("X-Frame-Options", "DENY"),
    ("Content-Length", str(len(MENU))),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]


def app(environ, start_response):
    """The server's WSGI application: the menu answer to every request, with its request id."""
    request_id = environ.get("HTTP_X_REQUEST_ID", "")
    start_response("200 OK", [*HEADERS, ("X-Request-ID", request_id)])
    return [MENU]


def requests_client(name: str, base_urls: list[str], *, configured: bool = True, **kwargs):
    """Return a ServiceClient that sends through one pooled requests.Session instead of urllib3."""
    import requests

    from food_common.http import ServiceClient, ServiceResponse, UpstreamError
    from food_common.request_id import HEADER as REQUEST_ID_HEADER
    from food_common.request_id import get_request_id

    class NoCookies(http.cookiejar.DefaultCookiePolicy):
        def set_ok(self, cookie, request):
            return False

    class RequestsServiceClient(ServiceClient):
        def __init__(self, name, base_urls, *, connect_timeout=1.0, read_timeout=5.0, pool_size=10):
            super().__init__(name, base_urls)
            self.timeout = (connect_timeout, read_timeout)
            self.session = requests.Session()
            adapter = requests.adapters.HTTPAdapter(
                pool_connections=1, pool_maxsize=pool_size, max_retries=0
            )
            self.session.mount("http://", adapter)
            self.session.mount("https://", adapter)
            if configured:
                self.session.trust_env = False
                self.session.cookies.set_policy(NoCookies())

        def request(self, method, path, *, json_body=None, token=None, headers=None):
            send_headers = {"Accept": "application/json", REQUEST_ID_HEADER: get_request_id()}
            if token:
                send_headers["Authorization"] = f"Bearer {token}"
            body = None
            if json_body is not None:
                body = json.dumps(json_body).encode()
                send_headers["Content-Type"] = "application/json"
            send_headers.update(headers or {})
            for upstream in self.upstreams.candidates():
                try:
                    response = self.session.request(
                        method,
                        upstream.base_url + path,
                        data=body,
                        headers=send_headers,
                        timeout=self.timeout,
                        allow_redirects=False,
                    )
                except requests.ConnectTimeout:
                    upstream.breaker.record_failure()
                    continue
                except (requests.Timeout, requests.ConnectionError) as exc:
                    upstream.breaker.record_failure()
                    kind = "timeout" if isinstance(exc, requests.Timeout) else "unavailable"
                    raise UpstreamError(
                        self.name, kind, f"{self.name} did not answer: {exc}"
                    ) from exc
                if response.status_code >= 500:
                    upstream.breaker.record_failure()
                else:
                    upstream.breaker.record_success()
                return ServiceResponse(
                    self.name, response.status_code, response.content, dict(response.headers)
                )
            raise UpstreamError(self.name, "unavailable", f"no copy of {self.name} is reachable")

    return RequestsServiceClient(name, base_urls, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    """Start granian (one worker, one thread) serving `app`; return once it accepts connections."""
    granian = Path(sys.executable).with_name("granian")
    server = subprocess.Popen(
        [str(granian), "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)]
        + ["--workers", "1", "--blocking-threads", "1", "--no-ws", "--log-level", "warning"]
        + ["--working-dir", str(Path(__file__).parent), "service_client:app"],
        stdin=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"granian exited with {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("granian did not start listening in 20 s")


def timed(client, calls: int) -> tuple[float, float]:
    """Return (CPU µs, wall µs) per call over `calls` GETs through `client`."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        response = client.request("GET", PATH, token="bench-token")
        if response.status != 200:
            raise RuntimeError(f"the bench server answered {response.status}")
    return (
        (time.process_time() - cpu) / calls * 1e6,
        (time.perf_counter() - wall) / calls * 1e6,
    )


def spread(values: list[float], digits: int = 1) -> dict:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def measure(calls: int = 3000, rounds: int = 5, max_seconds: float = 120.0) -> dict:
    """Return per-call CPU and wall µs of each client, and the requests − urllib3 cost per order."""
    from food_common.http import ServiceClient

    started = time.monotonic()
    port = free_port()
    server = start_server(port)
    try:
        base = [f"http://127.0.0.1:{port}"]
        clients = {
            "urllib3": ServiceClient("catalog", base),
            "requests": requests_client("catalog", base),
            "requests-defaults": requests_client("catalog", base, configured=False),
        }
        for client in clients.values():
            timed(client, 200)  # connect, warm caches
        cpu = {name: [] for name in clients}
        wall = {name: [] for name in clients}
        for round_no in range(rounds):
            if round_no and time.monotonic() - started > max_seconds:
                break
            # Alternate the order, so a slower stretch of the machine falls on every client.
            names = list(clients) if round_no % 2 == 0 else list(reversed(clients))
            for name in names:
                cpu_us, wall_us = timed(clients[name], calls)
                cpu[name].append(cpu_us)
                wall[name].append(wall_us)
    finally:
        server.terminate()
        server.wait(10)
    # Paired by round: each round's requests figure minus the same round's urllib3 figure.
    extra = [
        (r - u) * CALLS_PER_ORDER / 1000
        for r, u in zip(cpu["requests"], cpu["urllib3"], strict=True)
    ]
    return {
        "calls_per_round": calls,
        "rounds": len(cpu["urllib3"]),
        "cpu_us_per_call": {name: spread(values) for name, values in cpu.items()},
        "wall_us_per_call": {name: spread(values) for name, values in wall.items()},
        "calls_per_order": CALLS_PER_ORDER,
        "requests_extra_cpu_ms_per_order": spread(extra, 3)
        | {"rounds": [round(x, 3) for x in extra]},
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--max-seconds", type=float, default=120.0, help="start no round after this"
    )
    args = parser.parse_args()
    print(json.dumps(measure(args.calls, args.rounds, args.max_seconds), indent=2))


if __name__ == "__main__":
    main()

"""Quick gateway benchmark: the same catalog page direct, through nginx, and through our gateway.

    python bench/gateway.py [--seconds 10] [--rounds 3] [--path /restaurants?page=1]
                            [--slow-idle 500] [--slow-body 50]

Starts its own stack (tests/stack.py) with a single catalog copy and the gateway's rate limit on
(high enough never to throttle, so every request still pays its Redis count), registers a
customer through the gateway, writes an nginx reverse proxy with upstream keep-alive in front of
that same catalog copy, and runs `wrk -t2 -c32 --latency` with the customer's
`Authorization: Bearer` token against the three, interleaved round by round so the ratios hold
on a noisy 2-core machine, plus direct and gateway with 2 connections (latency without
queueing). Then the cached page through the gateway while 500 idle and 50 slow-body clients are
connected to it, next to the same without them (bench/slowclients.py holds them). Prints medians
and the gateway's CPU time per request (read from /proc for its whole process group).
Loopback only.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.stack
sys.path.insert(0, str(Path(__file__).resolve().parent))  # slowclients, when imported from run.py

from slowclients import SlowClients, raise_open_files  # noqa: E402

from tests.client import Api  # noqa: E402
from tests.stack import ROOT, Process, Stack, free_port, wait_until_up  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
# The gateway's settings for every benchmark run (bench/run.py adds its own on top):
GATEWAY_ENV = {
    # The rate limit on, at a rate that never throttles: each request still pays the Redis count.
    "GATEWAY_RATE_LIMIT": "1000000/s",
    # Everything comes from 127.0.0.1 here, so the per-address cap of in-flight requests (100 by
    # default) would count wrk and the slow clients together: off. The header and body timeouts
    # (10 s by default) would close the held clients during a measured run: 60 s, and the slow
    # clients scenario re-opens whatever gets closed anyway.
    "GATEWAY_MAX_INFLIGHT_PER_CLIENT": "0",
    "GATEWAY_HEADER_TIMEOUT": "60",
    "GATEWAY_BODY_TIMEOUT": "60",
    # Access tokens for the whole run (5 minutes by default; bench/run.py takes longer).
    "JWT_ACCESS_MINUTES": "60",
    "LOG_LEVEL": "WARNING",
    "GATEWAY_ACCESS_LOG": "0",
}
NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  upstream catalog {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://catalog;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }}
  }}
}}
"""


def group_cpu_seconds(pgid: int) -> float:
    """Return the user+system CPU seconds of every live process in a process group."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 (pgrp), after pid and comm
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLK_TCK


def to_ms(value: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", value)
    if not match:
        return float("nan")
    number, unit = match.groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60_000}[unit]


def wrk(
    url: str,
    seconds: int,
    connections: int = 32,
    script: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float | None = None,
) -> dict:
    """Run wrk (2 threads) and return its figures; p50/p99 are None if nothing was answered."""
    extra = ["-s", script] if script else []
    for name, value in (headers or {}).items():
        extra += ["-H", f"{name}: {value}"]
    if timeout:
        extra += ["--timeout", f"{timeout:g}s"]
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *extra, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    if total and "Latency Distribution" not in out:
        raise RuntimeError(f"wrk against {url} gave no latencies:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = p99 = None
    if total:
        # Anchored: "75.50%" in the thread stats above would match a bare "50%".
        p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
        p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    timeouts = re.search(r"Socket errors: .*timeout (\d+)", out)
    return {
        "rps": rps,
        "requests": total,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "timeouts": int(timeouts.group(1)) if timeouts else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def wrk_with_cpu(pgid: int, url: str, seconds: int, **options) -> dict:
    """wrk(), plus the gateway's CPU ms per request (process group `pgid`; None if none answered)."""
    cpu_before = group_cpu_seconds(pgid)
    run = wrk(url, seconds, **options)
    cpu = group_cpu_seconds(pgid) - cpu_before
    run["gateway_cpu_ms_per_req"] = cpu * 1000 / run["requests"] if run["requests"] else None
    return run


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def start_nginx(workdir: Path, name: str, config: str) -> tuple[Process, int]:
    """Start nginx with `config` (a template of {dir} and {port}) on a free port."""
    port = free_port()
    (workdir / f"{name}.conf").write_text(config.format(dir=workdir, port=port))
    nginx = Process(
        name,
        [
            shutil.which("nginx") or "/usr/sbin/nginx",
            "-c",
            str(workdir / f"{name}.conf"),
            "-p",
            str(workdir),
        ],
        os.environ.copy(),
        workdir / f"{name}.log",
    ).start()
    return nginx, port


def compare_paths(
    stack: Stack,
    workdir: Path,
    seconds: int,
    rounds: int,
    path: str,
    headers: dict[str, str] | None = None,
) -> dict:
    """wrk the page direct, via nginx, via the gateway (interleaved rounds), then uncached.

    `headers` go with every request of every path (the same token everywhere: a fair comparison).
    """
    # nginx as a keep-alive reverse proxy in front of the stack's first catalog copy.
    nginx, nginx_port = start_nginx(
        workdir,
        "nginx",
        NGINX_CONF.replace("{upstream_port}", str(stack.ports["catalog"][0])),
    )
    targets = {
        "direct": stack.url("catalog") + path,
        "nginx": f"http://127.0.0.1:{nginx_port}{path}",
        "gateway": stack.gateway_url + path,
    }
    gateway_pgid = stack.server("gateway").proc.pid
    results = {name: [] for name in targets}
    try:
        for url in targets.values():  # warm-up
            wrk(url, 2, headers=headers)
        for _ in range(rounds):
            for name, url in targets.items():
                if name == "gateway":
                    run = wrk_with_cpu(gateway_pgid, url, seconds, headers=headers)
                else:
                    run = wrk(url, seconds, headers=headers)
                results[name].append(run)
            # The same two paths with 2 connections (one request in flight per wrk thread): the
            # catalog is not saturated, so the p50 difference is the gateway's own latency rather
            # than 32 connections queueing on one catalog process.
            for name in ("direct", "gateway"):
                results.setdefault(f"{name}_light", []).append(
                    wrk(targets[name], seconds, connections=2, headers=headers)
                )
    finally:
        nginx.stop()
    # The same list with the cache turned off: restart the catalog copy without it.
    catalog = stack.server("catalog")
    catalog.stop()
    catalog.env = {**catalog.env, "CATALOG_CACHE_ENABLED": "0"}
    stack.start_server("catalog")
    try:
        results["gateway_uncached"] = []
        wrk(targets["gateway"], 2, headers=headers)
        for _ in range(rounds):
            results["gateway_uncached"].append(wrk(targets["gateway"], seconds, headers=headers))
    finally:
        # Back to the cached catalog for whatever runs next.
        catalog.stop()
        catalog.env = {k: v for k, v in catalog.env.items() if k != "CATALOG_CACHE_ENABLED"}
        stack.start_server("catalog")
    return results


STATIC_NGINX_CONF = """
worker_processes 1;
daemon off;
pid {dir}/nginx-static.pid;
error_log {dir}/nginx-static-error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{port};
    root {dir};
    location / {{ default_type application/json; try_files /page.json =404; }}
  }}
}}
"""


def gateway_saturated(
    stack: Stack,
    workdir: Path,
    seconds: int,
    rounds: int,
    path: str,
    headers: dict[str, str] | None = None,
) -> list[dict]:
    """wrk a second gateway whose catalog is nginx serving the same page as a static file.

    The catalog process answers ~700 req/s here, so in front of it the gateway idles between
    requests and pays its per-wake-up costs on few of them; behind an upstream that is never the
    bottleneck, this gives the gateway's own CPU per request at full load (token check and rate
    limit on, as in compare_paths).
    """
    page = urllib.request.Request(stack.url("catalog") + path, headers=headers or {})  # noqa: S310
    with urllib.request.urlopen(page) as response:  # noqa: S310 - loopback only
        (workdir / "page.json").write_bytes(response.read())
    # nginx's worker runs as `nobody`, and tempfile.mkdtemp() makes the directory 0700: without
    # this the worker cannot read the page and every answer is a 404 (the runs before 2026-12-03
    # measured exactly that: `gateway_saturated_non_2xx` equalled the request count).
    workdir.chmod(0o755)
    (workdir / "page.json").chmod(0o644)
    nginx, static_port = start_nginx(workdir, "nginx-static", STATIC_NGINX_CONF)
    gateway_port = free_port()
    gateway = Process(
        "gateway-saturated",
        [str(ROOT / "bin" / "serve"), "gateway", str(gateway_port)],
        {
            **stack.env("gateway"),
            "CATALOG_SERVICE_URLS": f"http://127.0.0.1:{static_port}",
            "GATEWAY_METRICS_PORT": "0",
        },
        workdir / "gateway-saturated.log",
    ).start()
    url = f"http://127.0.0.1:{gateway_port}{path}"
    runs = []
    try:
        wait_until_up(f"http://127.0.0.1:{gateway_port}/health", gateway)
        wrk(url, 2, headers=headers)
        for _ in range(rounds):
            runs.append(wrk_with_cpu(gateway.proc.pid, url, seconds, headers=headers))
    finally:
        gateway.stop()
        nginx.stop()
    return runs


def summarize_saturated(runs: list[dict]) -> dict:
    """Medians of the saturated gateway's runs."""
    return {
        "gateway_saturated_rps": round(statistics.median(r["rps"] for r in runs), 1),
        "gateway_saturated_cpu_ms_per_req": round(
            statistics.median(r["gateway_cpu_ms_per_req"] for r in runs), 3
        ),
        "gateway_saturated_non_2xx": sum(r["non_2xx"] for r in runs),
    }


def slow_clients_compare(
    stack: Stack,
    seconds: int,
    rounds: int,
    path: str,
    token: str,
    *,
    idle: int = 500,
    slow: int = 50,
    timeout: float = 10,
) -> dict:
    """wrk the page through the gateway without and with `idle` + `slow` clients held open.

    Each round: a run without them, then the holders are opened (bench/slowclients.py), the run
    is repeated while they are connected, and they are closed. How many were connected at the
    start and at the end of each measured run goes with it. wrk's timeout is `timeout` seconds
    for both runs, so a request held up that long still counts in the p99 instead of vanishing.
    """
    url = stack.gateway_url + path
    headers = bearer(token)
    gateway_pgid = stack.server("gateway").proc.pid
    port = stack.ports["gateway"][0]

    def measure() -> dict:
        return wrk_with_cpu(gateway_pgid, url, seconds, headers=headers, timeout=timeout)

    results = {"without": [], "with": []}
    wrk(url, 2, headers=headers)  # warm-up
    for _ in range(rounds):
        results["without"].append(measure())
        began = time.monotonic()
        with SlowClients("127.0.0.1", port, idle=idle, slow=slow, token=token) as holders:
            holders.wait_connected(timeout=10)
            connect_seconds = time.monotonic() - began
            time.sleep(1)  # the slow clients' headers reach the gateway, which waits for bodies
            at_start = holders.counts()
            run = measure()
            at_end = holders.counts()
        run["holders_connect_seconds"] = round(connect_seconds, 2)
        run["holders_at_start"] = at_start
        run["holders_at_end"] = at_end
        results["with"].append(run)
        time.sleep(1)  # the closed holders' requests end on the server before the next round
    return results


def summarize_slow(results: dict) -> dict:
    """Medians of the slow-clients comparison and the fewest holders connected in any round.

    A p99 is None when some round got no answer at all (the gateway froze): a median over the
    rounds that did answer would flatter it.
    """

    def medians(runs: list[dict]) -> tuple[float, float | None, float | None]:
        rps = round(statistics.median(r["rps"] for r in runs), 1)
        p50s, p99s = [r["p50_ms"] for r in runs], [r["p99_ms"] for r in runs]
        return (
            rps,
            None if None in p50s else statistics.median(p50s),
            None if None in p99s else statistics.median(p99s),
        )

    with_rps, with_p50, with_p99 = medians(results["with"])
    without_rps, without_p50, without_p99 = medians(results["without"])
    held = results["with"]
    summary = {
        "slow_clients_get_rps": with_rps,
        "slow_clients_get_p99_ms": with_p99,
        "slow_clients_get_p50_ms": with_p50,
        "slow_clients_baseline_get_rps": without_rps,
        "slow_clients_baseline_get_p99_ms": without_p99,
        "slow_clients_baseline_get_p50_ms": without_p50,
        "slow_clients_rps_ratio": round(with_rps / without_rps, 3) if without_rps else None,
        "slow_clients_rounds_unanswered": sum(1 for r in held if not r["requests"]),
        "slow_clients_idle_wanted": held[0]["holders_at_start"]["idle_wanted"],
        "slow_clients_slow_wanted": held[0]["holders_at_start"]["slow_wanted"],
    }
    for kind in ("idle", "slow"):
        for moment in ("start", "end"):
            summary[f"slow_clients_{kind}_connected_{moment}"] = min(
                r[f"holders_at_{moment}"][f"{kind}_connected"] for r in held
            )
        summary[f"slow_clients_{kind}_closed_by_server"] = sum(
            r["holders_at_end"][f"{kind}_closed_by_server"] for r in held
        )
    answers: dict[str, int] = {}
    for r in held:
        for code, count in r["holders_at_end"]["answers"].items():
            answers[code] = answers.get(code, 0) + count
    summary["slow_clients_answers"] = answers
    cpu = [r["gateway_cpu_ms_per_req"] for r in held if r["gateway_cpu_ms_per_req"] is not None]
    summary["slow_clients_gateway_cpu_ms_per_req"] = (
        round(statistics.median(cpu), 3) if cpu else None
    )
    summary["slow_clients_rounds"] = {
        name: [{"rps": round(r["rps"]), "p99_ms": r["p99_ms"]} for r in runs]
        for name, runs in results.items()
    }
    return summary


def summarize(results: dict) -> dict:
    """Medians per path and the ratios of the comparison."""
    summary = {
        name: {
            key: statistics.median(r[key] for r in runs)
            for key in runs[0]
            if isinstance(runs[0][key], (int, float))
        }
        for name, runs in results.items()
    }
    summary["gateway_vs_nginx_ratio"] = round(
        summary["gateway"]["rps"] / summary["nginx"]["rps"], 3
    )
    summary["nginx_vs_direct_ratio"] = round(summary["nginx"]["rps"] / summary["direct"]["rps"], 3)
    summary["cache_speedup"] = round(
        summary["gateway"]["rps"] / summary["gateway_uncached"]["rps"], 2
    )
    summary["gateway_added_p50_ms"] = round(
        summary["gateway"]["p50_ms"] - summary["direct"]["p50_ms"], 3
    )
    summary["gateway_added_p50_ms_light"] = round(
        summary["gateway_light"]["p50_ms"] - summary["direct_light"]["p50_ms"], 3
    )
    summary["server"] = os.environ.get("HTTP_SERVER", "granian")
    summary["rounds"] = {name: [round(r["rps"]) for r in runs] for name, runs in results.items()}
    return summary


def seed(stack: Stack, restaurants: int, items: int, owner_id: int | None = None) -> None:
    """Seed the catalog (200 restaurants × 15 items by default), replacing what is there."""
    owner = ["--owner-id", str(owner_id)] if owner_id is not None else []
    subprocess.run(
        [sys.executable, "manage.py", "seed_catalog", "--restaurants", str(restaurants)]
        + ["--items", str(items), "--reset", *owner],
        cwd=ROOT / "catalog_project",
        env=stack.env("catalog"),
        check=True,
        capture_output=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--path", default="/restaurants?page=1")
    parser.add_argument("--restaurants", type=int, default=200)
    parser.add_argument("--items", type=int, default=15)
    parser.add_argument("--slow-idle", type=int, default=500, help="idle clients held open")
    parser.add_argument("--slow-body", type=int, default=50, help="slow-body clients held open")
    args = parser.parse_args()
    raise_open_files()
    workdir = Path(tempfile.mkdtemp(prefix="food-bench-"))
    stack = Stack(workdir, catalog_copies=1, prefix="food_bench", extra_env=GATEWAY_ENV)
    stack.prepare()
    try:
        stack.start(workers=False)
        seed(stack, args.restaurants, args.items)
        email = f"bench-{os.getpid()}-{time.monotonic_ns()}@bench.test"
        token = Api(stack.gateway_url).register_and_login(email)["access"]
        results = compare_paths(
            stack, workdir, args.seconds, args.rounds, args.path, headers=bearer(token)
        )
        saturated = gateway_saturated(
            stack, workdir, args.seconds, args.rounds, args.path, headers=bearer(token)
        )
        slow = slow_clients_compare(
            stack,
            args.seconds,
            args.rounds,
            args.path,
            token,
            idle=args.slow_idle,
            slow=args.slow_body,
        )
    finally:
        stack.stop()
    print(
        json.dumps(
            {**summarize(results), **summarize_saturated(saturated), **summarize_slow(slow)},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

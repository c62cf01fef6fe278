"""Quick gateway benchmark: the same catalog page direct, through nginx, and through our gateway.

    python bench/gateway.py [--seconds 10] [--rounds 3] [--path /restaurants?page=1]

Starts its own stack (tests/stack.py) with a single catalog copy, writes an nginx reverse proxy
with upstream keep-alive in front of that same copy, and runs `wrk -t2 -c32 --latency` against the
three, interleaved round by round so the ratios hold on a noisy 2-core machine, plus direct and
gateway with 2 connections (latency without queueing). Prints medians and
the gateway's CPU time per request (read from /proc for its whole process group). Loopback only.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.stack import Process, Stack, free_port  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
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


def wrk(url: str, seconds: int, connections: int = 32, script: str | None = None) -> dict:
    extra = ["-s", script] if script else []
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", *extra, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Latency Distribution" not in out:
        raise RuntimeError(f"wrk against {url} gave no latencies:\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    # Anchored: "75.50%" in the thread stats above would match a bare "50%".
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    return {
        "rps": rps,
        "requests": total,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def start_nginx(stack: Stack, workdir: Path) -> tuple[Process, int]:
    """Start nginx as a keep-alive reverse proxy in front of the stack's first catalog copy."""
    nginx_port = free_port()
    (workdir / "nginx.conf").write_text(
        NGINX_CONF.format(dir=workdir, port=nginx_port, upstream_port=stack.ports["catalog"][0])
    )
    nginx = Process(
        "nginx",
        [
            shutil.which("nginx") or "/usr/sbin/nginx",
            "-c",
            str(workdir / "nginx.conf"),
            "-p",
            str(workdir),
        ],
        os.environ.copy(),
        workdir / "nginx.log",
    ).start()
    return nginx, nginx_port


def compare_paths(stack: Stack, workdir: Path, seconds: int, rounds: int, path: str) -> dict:
    """wrk the page direct, via nginx, via the gateway (interleaved rounds), then uncached."""
    nginx, nginx_port = start_nginx(stack, workdir)
    targets = {
        "direct": stack.url("catalog") + path,
        "nginx": f"http://127.0.0.1:{nginx_port}{path}",
        "gateway": stack.gateway_url + path,
    }
    gateway_pgid = stack.server("gateway").proc.pid
    results = {name: [] for name in targets}
    try:
        for url in targets.values():  # warm-up
            wrk(url, 2)
        for _ in range(rounds):
            for name, url in targets.items():
                cpu_before = group_cpu_seconds(gateway_pgid)
                run = wrk(url, seconds)
                if name == "gateway":
                    run["gateway_cpu_ms_per_req"] = (
                        (group_cpu_seconds(gateway_pgid) - cpu_before) * 1000 / run["requests"]
                    )
                results[name].append(run)
            # The same two paths with 2 connections (one request in flight per wrk thread): the
            # catalog is not saturated, so the p50 difference is the gateway's own latency rather
            # than 32 connections queueing on one catalog process.
            for name in ("direct", "gateway"):
                results.setdefault(f"{name}_light", []).append(
                    wrk(targets[name], seconds, connections=2)
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
        wrk(targets["gateway"], 2)
        for _ in range(rounds):
            results["gateway_uncached"].append(wrk(targets["gateway"], seconds))
    finally:
        # Back to the cached catalog for whatever runs next.
        catalog.stop()
        catalog.env = {k: v for k, v in catalog.env.items() if k != "CATALOG_CACHE_ENABLED"}
        stack.start_server("catalog")
    return results


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--path", default="/restaurants?page=1")
    parser.add_argument("--restaurants", type=int, default=200)
    parser.add_argument("--items", type=int, default=15)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="food-bench-"))
    env = {"GATEWAY_RATE_LIMIT": "0", "LOG_LEVEL": "WARNING", "GATEWAY_ACCESS_LOG": "0"}
    stack = Stack(workdir, catalog_copies=1, prefix="food_bench", extra_env=env)
    stack.prepare()
    try:
        stack.start(workers=False)
        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "seed_catalog",
                "--restaurants",
                str(args.restaurants),
                "--items",
                str(args.items),
                "--reset",
            ],
            cwd=Path(__file__).resolve().parents[1] / "catalog_project",
            env=stack.env("catalog"),
            check=True,
            capture_output=True,
        )
        results = compare_paths(stack, workdir, args.seconds, args.rounds, args.path)
    finally:
        stack.stop()
    print(json.dumps(summarize(results), indent=2))


if __name__ == "__main__":
    main()

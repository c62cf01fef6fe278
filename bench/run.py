"""`make bench`: the whole benchmark, bounded to 20 minutes, loopback only.

    python bench/run.py [--seconds 8] [--rounds 3] [--orders-seconds 15] [--event-seconds 15]
                        [--flow-seconds 30] [--slow-idle 500] [--slow-body 50]
                        [--riders 3000] [--location-seconds 10] [--location-rate 1000]
                        [--mix-seconds 10] [--mix-start 50] [--mix-steps 6] [--mix-budget 150]
                        [--live-idle 2000] [--live-active 100] [--live-rate 50]
                        [--live-seconds 15] [--live-get-seconds 5]
                        [--only location,mix,live] [--out DIR]

Starts its own stack (tests/stack.py, workers and beat included; the gateway's rate limit on at
a rate that never throttles), seeds 200 restaurants × 15 items owned by a restaurant owner
registered through the gateway, registers 20 customers, then:

1. the cached `GET /restaurants?page=1` with the first customer's bearer token, direct, through
   nginx and through the gateway, and the same through the gateway with the catalog cache off
   (bench/gateway.py's rounds);
2. the same cached GET through the gateway while 500 idle and 50 slow-body clients are held
   open on it, next to the same without them, round by round (bench/slowclients.py);
3. `POST /orders` through the gateway with wrk (a Lua script spreads the 20 customers' tokens and
   the menu items over the requests);
4. event latency: once the burst's events are worked off, 50 orders/s from a Python thread
   pool, then each order's `order.created` notification's `created_at` minus the time its POST
   returned; then the notifications worker's maximum sustained rate (a backlog of 300 events
   queued while it is stopped, worked off once it starts);
5. the full flow (place + pay, with Idempotency-Keys) from a thread pool, then a reconciliation
   through the orders and payments databases;
6. rider location updates through the gateway, 3,000 riders each with its own token: wrk for
   the throughput, a fixed offered rate for the p99 (bench/location.py);
7. the reference design's traffic mix (70 % location updates, 20 % order placement and payment,
   8 % browsing, 2 % logins) at fixed offered rates: the highest that holds (bench/mix.py);
8. live updates: 2,000 idle WebSockets on the gateway's /ws/live plus 100 active customers' at
   50 orders/s: push latency from the event to the client, memory per connection, and the
   cached GET with and without the sockets (bench/live.py).

Writes bench/results/latest.json, latest.md and latest.png. `--only location,mix,live` runs only
the last three (or some of them) after the seeding and prints their figures (a smoke run while developing them).
"""

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import urllib3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from event_signing import measure as measure_event_signing  # noqa: E402
from gateway import (  # noqa: E402
    GATEWAY_ENV,
    bearer,
    compare_paths,
    gateway_saturated,
    group_cpu_seconds,
    seed,
    slow_clients_compare,
    summarize,
    summarize_saturated,
    summarize_slow,
    wrk,
)
from live import live_load, summarize_live  # noqa: E402
from location import (  # noqa: E402
    DEFAULT_CENTER,
    location_load,
    restaurant_positions,
    seed_riders,
    summarize_location,
)
from mix import mix_search, steps_table, summarize_mix  # noqa: E402
from slowclients import raise_open_files  # noqa: E402

from tests.stack import Stack  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PG = "postgresql://postgres@127.0.0.1:5432/"
PASSWORD = "a-Long-enough-passw0rd"
CARD_OK = "4242424242424242"
CUSTOMERS = 20
# Where the orders of scenarios 4-6 are delivered: in the city the catalog's restaurants are in.
DELIVERY_POINT = DEFAULT_CENTER
TIME_LIMIT = 1200  # seconds, the whole run
EXTRA_ENV = {
    # The rate limit on but never throttling, long timeouts for the held clients, no per-address
    # cap of in-flight requests (everything comes from 127.0.0.1), 60-minute access tokens.
    **GATEWAY_ENV,
    # The workers as deployed (bin/worker's default), not the tests' single process.
    "WORKER_CONCURRENCY": "2",
    "LOGIN_RATE_PER_IP": "100000/min",
    "LOGIN_RATE_PER_EMAIL": "100000/min",
    "REGISTER_RATE_PER_IP": "100000/min",
    "REGISTER_RATE_GLOBAL": "100000/min",
    # Delivery at its deployed defaults (tests/stack.py shortens them for the tests): riders may
    # report once a second, positions reach the database every 10 s, the dispatch sweep runs
    # every 10 s.
    "RIDER_LOCATION_MIN_INTERVAL": "1.0",
    "RIDER_POSITION_FLUSH_SECONDS": "10",
    "DISPATCH_RETRY_SECONDS": "10",
    # Delivery sized as `make up` and compose run it (bin/serve), not as the tests' one process.
    "DELIVERY_WEB_WORKERS": "2",
    "DELIVERY_WEB_THREADS": "1",
}

LUA = """
local tokens = {%(tokens)s}
local items = {%(items)s}
local counter = 0
local threads = {}
tid = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = tid * 7919
end

function request()
  counter = counter + 1
  local token = tokens[(counter %% #tokens) + 1]
  local item = items[(counter %% #items) + 1]
  local body = string.format(
    '{"restaurant_id": %%d, "items": [{"menu_item_id": %%d, "quantity": 1}], '
    .. '"delivery_address": "1 Bench St", "delivery_lat": %(lat)s, "delivery_lon": %(lon)s}',
    item[1], item[2])
  return wrk.format("POST", "/orders", {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
"""


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Client:
    def __init__(self, base: str):
        self.base = base
        self.http = urllib3.PoolManager(
            maxsize=32, retries=False, timeout=urllib3.Timeout(connect=2, read=15)
        )

    def post(self, path: str, body: dict, token: str | None = None, key: str | None = None):
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            headers["Idempotency-Key"] = key
        reply = self.http.request("POST", self.base + path, body=json.dumps(body), headers=headers)
        try:
            data = json.loads(reply.data) if reply.data else None
        except ValueError:
            data = None
        return reply.status, data

    def register(self, email: str, role: str) -> tuple[int, str]:
        status, user = self.post(
            "/auth/register", {"email": email, "password": PASSWORD, "role": role}
        )
        assert status == 201, (status, user)
        status, tokens = self.post("/auth/login", {"email": email, "password": PASSWORD})
        assert status == 200, (status, tokens)
        return user["id"], tokens["access"]


def db(stack: Stack, service: str) -> psycopg.Connection:
    return psycopg.connect(PG + stack.database(service), autocommit=True)


def xact_count(stack: Stack) -> int:
    with psycopg.connect(PG + "postgres", autocommit=True) as conn:
        return conn.execute(
            "SELECT sum(xact_commit + xact_rollback)::bigint FROM pg_stat_database "
            "WHERE datname LIKE %s",
            (stack.prefix + "\\_%",),
        ).fetchone()[0]


QUERY_METRICS = ("django_db_execute_total", "django_db_execute_many_total")


def queries_served(stack: Stack, services=("orders", "catalog")) -> int:
    """Return the SQL statements the web processes of `services` ran so far.

    Read from django-prometheus's counters on each service's /metrics (the ORM counts every
    statement it sends); the Celery workers serve no metrics, so their queries are not in it.
    """
    http = urllib3.PoolManager(retries=False, timeout=5)
    total = 0.0
    for service in services:
        text = http.request("GET", f"{stack.url(service)}/metrics").data.decode()
        for line in text.splitlines():
            name = line.split("{", 1)[0].split(" ", 1)[0]
            if name in QUERY_METRICS:
                total += float(line.rsplit(" ", 1)[1])
    return int(total)


def notified(stack: Stack, order_ids) -> dict[int, float]:
    """Return {order id: created_at (epoch s)} of the `order.created` notifications of `order_ids`."""
    with db(stack, "orders") as conn:
        rows = conn.execute(
            "SELECT substring(subject from '#([0-9]+)')::bigint AS oid, created_at "
            "FROM notifications_notification WHERE event_type = 'order.created'"
        ).fetchall()
    wanted = set(order_ids)
    return {oid: at.timestamp() for oid, at in rows if oid in wanted}


def wait_notified(stack: Stack, order_ids, timeout: float) -> dict[int, float]:
    """Poll until every order in `order_ids` has its notification (or `timeout`); return them."""
    deadline = time.monotonic() + timeout
    seen = notified(stack, order_ids)
    while len(seen) < len(order_ids) and time.monotonic() < deadline:
        time.sleep(0.5)
        seen = notified(stack, order_ids)
    return seen


def place_order(client, tokens, items, n: int, address: str) -> tuple[int, dict | None]:
    """POST one order of one item for customer `n` (items and customers taken in turn)."""
    rid, mid = items[(n * 31) % len(items)]
    body = {
        "restaurant_id": rid,
        "items": [{"menu_item_id": mid, "quantity": 1}],
        "delivery_address": address,
        "delivery_lat": DELIVERY_POINT[0],
        "delivery_lon": DELIVERY_POINT[1],
    }
    return client.post("/orders", body, tokens[n % len(tokens)])


def drain(stack: Stack, timeout: float = 120) -> float:
    """Wait until every order has its `order.created` notification; return the seconds waited."""
    began = time.monotonic()
    with db(stack, "orders") as conn:
        while time.monotonic() - began < timeout:
            missing = conn.execute(
                "SELECT count(*) FROM orders_order o WHERE NOT EXISTS (SELECT 1 FROM "
                "notifications_notification n WHERE n.event_type = 'order.created' "
                "AND n.subject ~ ('#' || o.id || '([^0-9]|$)'))"
            ).fetchone()[0]
            if not missing:
                break
            time.sleep(0.5)
    return round(time.monotonic() - began, 1)


def orderable_items(stack: Stack) -> list[tuple[int, int]]:
    with db(stack, "catalog") as conn:
        return conn.execute(
            "SELECT r.id, m.id FROM catalog_restaurant r JOIN catalog_menuitem m "
            "ON m.restaurant_id = r.id WHERE r.is_open AND m.is_available ORDER BY m.id"
        ).fetchall()


# -- scenario 3: POST /orders with wrk ---------------------------------------------------------
def cpu_by_process(stack: Stack) -> dict[str, float]:
    """Return the CPU seconds used so far by each process of the stack (its whole group)."""
    return {
        name: sum(group_cpu_seconds(p.proc.pid) for p in copies if p.proc is not None)
        for name, copies in stack.processes.items()
    }


def orders_load(stack, workdir, tokens, items, seconds) -> dict:
    script = workdir / "orders.lua"
    script.write_text(
        LUA
        % {
            "tokens": ", ".join(f'"{t}"' for t in tokens),
            "items": ", ".join(f"{{{r}, {m}}}" for r, m in items),
            "lat": DELIVERY_POINT[0],
            "lon": DELIVERY_POINT[1],
        }
    )
    with db(stack, "orders") as conn:
        before_orders = conn.execute("SELECT count(*) FROM orders_order").fetchone()[0]
    xact_before = xact_count(stack)
    queries_before = queries_served(stack)
    cpu_before = cpu_by_process(stack)
    run = wrk(stack.gateway_url + "/orders", seconds, connections=32, script=str(script))
    cpu_after = cpu_by_process(stack)
    queries_after = queries_served(stack)
    xact_after = xact_count(stack)
    with db(stack, "orders") as conn:
        placed = conn.execute("SELECT count(*) FROM orders_order").fetchone()[0] - before_orders
    run["orders_in_db"] = placed
    # CPU per order by process, what holds across machines (the workers' share includes the
    # events of this burst they handled during the run, not the backlog left after it).
    run["cpu_ms_per_order"] = {
        name: round((cpu_after[name] - cpu_before.get(name, 0)) * 1000 / placed, 2)
        for name in cpu_after
        if placed
    }
    run["db_queries_per_order"] = (
        round((queries_after - queries_before) / placed, 2) if placed else None
    )
    run["db_transactions"] = xact_after - xact_before
    run["db_transactions_per_order"] = (
        round((xact_after - xact_before) / placed, 2) if placed else None
    )
    return run


# -- scenario 4: event latency at a fixed rate -------------------------------------------------
def event_latency(stack, client, tokens, items, seconds, rate) -> dict:
    returned: dict[int, float] = {}
    statuses: list[int] = []
    lock = threading.Lock()

    def place(n: int) -> None:
        status, data = place_order(client, tokens, items, n, "2 Latency Rd")
        t0 = time.time()
        with lock:
            statuses.append(status)
            if 200 <= status < 300:
                returned[data["id"]] = t0

    total = int(seconds * rate)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for n in range(total):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(place, n)
    achieved = total / (time.monotonic() - start)

    seen = wait_notified(stack, returned, timeout=30)
    latencies = [(seen[oid] - returned[oid]) * 1000 for oid in seen]
    return {
        "target_rate": rate,
        "achieved_rate": round(achieved, 1),
        "orders": len(returned),
        "errors": sum(1 for s in statuses if not 200 <= s < 300),
        "notified": len(seen),
        "p50_ms": round(pct(latencies, 50), 1),
        "p99_ms": round(pct(latencies, 99), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
    }


def worker_max_rate(stack, client, tokens, items, orders=300) -> dict:
    """The notifications worker's maximum sustained rate: with the worker stopped, place `orders`
    orders; start it and time how fast it works off the backlog (its first to its last
    `order.created` notification, each event's email task included)."""
    worker = stack.worker("notifications")
    worker.stop()
    ids: list[int] = []
    lock = threading.Lock()

    def place(n: int) -> None:
        status, data = place_order(client, tokens, items, n, "4 Backlog Ln")
        if status == 201:
            with lock:
                ids.append(data["id"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(place, range(orders)))
    time.sleep(2)  # every order.created is on the queue (relayed at commit)
    stack.start_worker("notifications")
    seen = wait_notified(stack, ids, timeout=120)
    times = sorted(seen.values())
    span = times[-1] - times[0] if len(times) > 1 else float("nan")
    return {
        "backlog": len(ids),
        "handled": len(seen),
        "seconds": round(span, 2),
        "events_per_s": round((len(times) - 1) / span, 1) if span == span and span > 0 else None,
    }


# -- scenario 5: full flow and reconciliation --------------------------------------------------
def full_flow(stack, client, tokens, items, seconds, threads=8) -> dict:
    deadline = time.monotonic() + seconds
    lock = threading.Lock()
    paid: list[int] = []
    placed: list[int] = []
    latencies: list[float] = []
    errors: dict[str, int] = {}

    def error(kind: str, status: int) -> None:
        with lock:
            errors[f"{kind} {status}"] = errors.get(f"{kind} {status}", 0) + 1

    def loop(worker: int) -> None:
        n = worker
        while time.monotonic() < deadline:
            token = tokens[n % len(tokens)]
            rid, mid = items[(n * 17 + worker) % len(items)]
            n += threads
            started = time.monotonic()
            body = {
                "restaurant_id": rid,
                "items": [{"menu_item_id": mid, "quantity": 2}],
                "delivery_address": "3 Flow Ave",
                "delivery_lat": DELIVERY_POINT[0],
                "delivery_lon": DELIVERY_POINT[1],
            }
            status, order = client.post("/orders", body, token, key=str(uuid.uuid4()))
            if not 200 <= status < 300:
                error("POST /orders", status)
                continue
            with lock:
                placed.append(order["id"])
            status, payment = client.post(
                "/payments",
                {"order_id": order["id"], "card_number": CARD_OK},
                token,
                key=f"pay-{order['id']}-{uuid.uuid4()}",
            )
            if not 200 <= status < 300:
                error("POST /payments", status)
                continue
            with lock:
                paid.append(order["id"])
                latencies.append((time.monotonic() - started) * 1000)

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(loop, range(threads)))
    elapsed = time.monotonic() - began

    def reconcile() -> dict:
        with db(stack, "payments") as conn:
            rows = conn.execute(
                "SELECT order_id, count(*) FROM payments_payment WHERE status = 'SUCCEEDED' "
                "AND order_id = ANY(%s) GROUP BY order_id",
                (placed,),
            ).fetchall()
        succeeded = dict(rows)
        with db(stack, "orders") as conn:
            status = dict(
                conn.execute(
                    "SELECT id, status FROM orders_order WHERE id = ANY(%s)", (placed,)
                ).fetchall()
            )
            notes: dict[int, list[str]] = {}
            for oid, event_type in conn.execute(
                # The customer's emails only: owners get live-only notices (channel "live").
                "SELECT order_id, event_type FROM notifications_notification "
                "WHERE channel = 'email' AND order_id IS NOT NULL"
            ).fetchall():
                notes.setdefault(oid, []).append(event_type)
        problems = []
        for oid in placed:
            if oid not in succeeded:
                if oid in paid:
                    problems.append((oid, "payment accepted but no SUCCEEDED payment"))
                continue
            if succeeded[oid] != 1:
                problems.append((oid, f"{succeeded[oid]} succeeded payments"))
            if status.get(oid) != "PAID":
                problems.append((oid, f"status {status.get(oid)}"))
            kinds = sorted(notes.get(oid, []))
            if kinds != ["order.created", "payment.succeeded"]:
                problems.append((oid, f"notifications {kinds}"))
        return {"succeeded_orders": len(succeeded), "problems": problems}

    wait_until = time.monotonic() + 20
    check = reconcile()
    while check["problems"] and time.monotonic() < wait_until:
        time.sleep(1)
        check = reconcile()
    return {
        "seconds": round(elapsed, 1),
        "orders_placed": len(placed),
        "orders_paid": len(paid),
        "flows_per_s": round(len(paid) / elapsed, 1),
        "p50_ms": round(pct(latencies, 50), 1),
        "p99_ms": round(pct(latencies, 99), 1),
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "succeeded_orders": check["succeeded_orders"],
        "reconciled": not check["problems"] and check["succeeded_orders"] == len(paid),
        "problems": [f"order {oid}: {what}" for oid, what in check["problems"][:20]],
        "problem_count": len(check["problems"]),
    }


# -- scenarios 7 and 8: rider locations and the traffic mix ----------------------------------
def riders_and_mix(stack, workdir, args, customers, items, phases) -> dict:
    """Seed the riders, then run the location scenario and/or the mix (bench/location.py, mix.py)."""
    results = {}
    print(f"7. rider location updates through the gateway ({args.riders} riders)", flush=True)
    riders = seed_riders(stack, args.riders, PASSWORD)
    if "location" in phases:
        results["location"] = location_load(
            stack,
            workdir,
            riders,
            seconds=args.location_seconds,
            rate=args.location_rate,
            min_interval=float(stack.env("delivery").get("RIDER_LOCATION_MIN_INTERVAL", 1.0)),
        )
    if "mix" in phases:
        print("8. the traffic mix at fixed offered rates (70/20/8/2 %)", flush=True)
        positions = {rid: (lat, lon) for rid, lat, lon in restaurant_positions(stack)}
        results["mix"] = mix_search(
            stack,
            workdir,
            riders=riders,
            customers=[(f"customer{n}@bench.test", t) for n, t in enumerate(customers)],
            password=PASSWORD,
            items=[[rid, mid, *positions[rid]] for rid, mid in items],
            restaurants=sorted(positions),
            start=args.mix_start,
            seconds=args.mix_seconds,
            steps=args.mix_steps,
            budget=args.mix_budget,
        )
    return results


# -- scenario 9: live updates ------------------------------------------------------------------
def live_updates(stack, workdir, args, items) -> dict:
    print(
        f"9. live updates: {args.live_idle} idle + {args.live_active} active WebSockets, "
        f"{args.live_rate:g} orders/s",
        flush=True,
    )
    return live_load(
        stack,
        workdir,
        items,
        PASSWORD,
        idle=args.live_idle,
        active=args.live_active,
        rate=args.live_rate,
        seconds=args.live_seconds,
        get_seconds=args.live_get_seconds,
    )


# -- report ------------------------------------------------------------------------------------
def machine() -> dict:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"nproc": os.cpu_count(), "cpu_model": model, "python": platform.python_version()}


def loop_seconds() -> float:
    """CPU seconds of an empty 10M-iteration Python loop: this machine's speed at the moment.

    A virtual machine's cores are not always as fast as they were (other guests on the host): the
    same loop took 0.27 s and 0.58 s seconds apart, so the report gives it at the start and the
    end of the run. It measures the cores only: a run can be slow with a fast loop (2026-12-03,
    bench/README.md), when what is slow is the system calls and context switches.
    """
    started = time.process_time()
    for _ in range(10_000_000):
        pass
    return round(time.process_time() - started, 3)


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_markdown(result: dict, out: Path = RESULTS) -> None:
    def row(name, target, measured, ok):
        verdict = "n/a" if ok is None else ("pass" if ok else "**fail**")
        return f"| {name} | {target} | {measured} | {verdict} |"

    def ms(value) -> str:
        return "none answered" if value is None else f"{value} ms"

    r = result
    o, e, f = r["scenarios"]["orders"], r["scenarios"]["events"], r["scenarios"]["flow"]
    loc, mix, live = r["scenarios"]["location"], r["scenarios"]["mix"], r["scenarios"]["live"]
    sat, fixed = loc["saturated"], loc["fixed_rate"]
    lines = [
        f"# Benchmark {r['date']}",
        "",
        f"Commit `{r['commit']}` · {r['machine']['nproc']} × {r['machine']['cpu_model']} · "
        + " · ".join(f"{k}={v}" for k, v in r["settings"].items()),
        "",
        "Machine speed, an empty 10M-iteration Python loop: "
        + " s at the start, ".join(str(x) for x in r["machine"].get("loop_seconds", []))
        + " s at the end (0.27–0.58 s seen on this VM: a slow loop means slow cores; a fast one does"
        " not vouch for the syscalls and context switches that loopback HTTP is made of).",
        "",
        "| target | wanted | measured | |",
        "|---|---|---|---|",
        row(
            "gateway_vs_nginx_ratio (bearer token, rate limit on)",
            "≥ 0.9",
            r["gateway_vs_nginx_ratio"],
            r["gateway_vs_nginx_ratio"] >= 0.9,
        ),
        row(
            "gateway_added_p50_ms",
            "≤ 3 ms",
            r["gateway_added_p50_ms"],
            r["gateway_added_p50_ms"] <= 3,
        ),
        row(
            "gateway_added_p50_ms with 2 connections (no queueing)",
            "–",
            r["gateway_added_p50_ms_2_connections"],
            None,
        ),
        row(
            "gateway_cpu_ms_per_req",
            "≤ 0.4 ms",
            r["gateway_cpu_ms_per_req"],
            r["gateway_cpu_ms_per_req"] <= 0.4,
        ),
        row(
            "gateway_saturated_cpu_ms_per_req (static upstream, full load, every answer 2xx)",
            "≤ 0.4 ms",
            f"{r['gateway_saturated_cpu_ms_per_req']} at {r['gateway_saturated_rps']} req/s"
            f" ({r['gateway_saturated_non_2xx']} not 2xx)",
            r["gateway_saturated_cpu_ms_per_req"] <= 0.4 and not r["gateway_saturated_non_2xx"],
        ),
        row("cache_speedup", "≥ 2", r["cache_speedup"], r["cache_speedup"] >= 2),
        row(
            f"cached GET through the gateway with {r['slow_clients_idle_wanted']} idle + "
            f"{r['slow_clients_slow_wanted']} slow clients: slow_clients_get_rps (p99)",
            "– (next to the same without them)",
            f"{r['slow_clients_get_rps']} req/s (p99 {ms(r['slow_clients_get_p99_ms'])}); "
            f"without them {r['slow_clients_baseline_get_rps']} req/s "
            f"(p99 {ms(r['slow_clients_baseline_get_p99_ms'])})",
            None,
        ),
        row(
            "held clients connected at the start / end of the measured runs (fewest of any round)",
            "all",
            f"idle {r['slow_clients_idle_connected_start']} / "
            f"{r['slow_clients_idle_connected_end']} of {r['slow_clients_idle_wanted']}, slow "
            f"{r['slow_clients_slow_connected_start']} / {r['slow_clients_slow_connected_end']} "
            f"of {r['slow_clients_slow_wanted']}",
            min(r["slow_clients_idle_connected_start"], r["slow_clients_idle_connected_end"])
            == r["slow_clients_idle_wanted"]
            and min(r["slow_clients_slow_connected_start"], r["slow_clients_slow_connected_end"])
            == r["slow_clients_slow_wanted"],
        ),
        row(
            "orders_per_s (p99, errors)",
            "≥ 150 (p99 ≤ 250 ms, 0 errors)",
            f"{r['orders_per_s']} (p99 {r['orders_p99_ms']} ms, {o['errors']} errors)",
            r["orders_per_s"] >= 150 and r["orders_p99_ms"] <= 250 and o["errors"] == 0,
        ),
        row(
            f"event latency p50 / p99 at {e['target_rate']:g} orders/s",
            "≤ 100 / ≤ 500 ms",
            f"{r['event_latency_p50_ms']} / {r['event_latency_p99_ms']} ms "
            f"({e['notified']}/{e['orders']} notified, {e['achieved_rate']} orders/s sent)",
            r["event_latency_p50_ms"] <= 100
            and r["event_latency_p99_ms"] <= 500
            and e["notified"] == e["orders"],
        ),
        row(
            "flow errors, reconciled",
            "0, yes",
            f"{r['flow_errors']}, {'yes' if r['flow_reconciled'] else 'no'} "
            f"({f['orders_paid']} paid orders)",
            r["flow_errors"] == 0 and r["flow_reconciled"],
        ),
        row(
            f"location_updates_per_s (wrk, 32 connections, {loc['riders']} riders' tokens in "
            "turn; errors)",
            "≥ 1,000, 0 errors",
            f"{r['location_updates_per_s']} (p99 {sat['p99_ms']} ms, {sat['errors']} errors; "
            f"a rider every {sat['seconds_between_a_riders_updates']} s)",
            r["location_updates_per_s"] >= 1000 and sat["errors"] == 0,
        ),
        row(
            f"location_p99_ms at {fixed['offered_rate']:g} updates/s offered (open loop)",
            "≤ 50 ms, 0 errors",
            f"{r['location_p99_ms']} ms (p50 {fixed['p50_ms']} ms; {fixed['answered_rate']}/s "
            f"answered, {fixed['errors']} errors; generator lag p99 {fixed['lag_p99_ms']} ms)",
            r["location_p99_ms"] is not None
            and r["location_p99_ms"] <= 50
            and fixed["errors"] == 0
            and fixed["sent_rate"] >= 0.95 * fixed["offered_rate"],
        ),
        row(
            "location_cpu_ms_per_update (every process of the stack, under wrk)",
            "–",
            r["location_cpu_ms_per_update"],
            None,
        ),
        row(
            "mix_max_rate_per_s (70 % location, 20 % order + payment, 8 % browsing, 2 % login; "
            "0 errors, p99 without the logins ≤ 250 ms)",
            "– (the highest that holds)",
            f"{r['mix_max_rate_per_s'] or 'no rate passed'} req/s (lowest failing "
            f"{mix['lowest_failing_rate_per_s']}; counting the logins' p99 too: "
            f"{r['mix_max_rate_per_s_all_requests'] or 'none'})",
            None,
        ),
        row(
            f"ws_push_p50_ms / ws_push_p99_ms: event to client, {live['active_wanted']} active + "
            f"{live['idle_wanted']} idle WebSockets, {live['offered_rate']:g} orders/s",
            "p99 ≤ 200 ms, every order pushed",
            f"{r['ws_push_p50_ms']} / {r['ws_push_p99_ms']} ms ({live['pushed']}/{live['orders']} "
            f"pushed, {live['sent_rate']} orders/s sent; the push hop alone "
            f"{live['push_hop_p50_ms']} / {live['push_hop_p99_ms']} ms)",
            r["ws_push_p99_ms"] is not None
            and r["ws_push_p99_ms"] <= 200
            and live["pushed"] == live["orders"] > 0,
        ),
        row(
            "WebSockets open: active / idle at the start, all at the end",
            "all",
            f"{live['active_opened']['opened']}/{live['active_wanted']}, "
            f"{live['idle_opened']['opened']}/{live['idle_wanted']} (in "
            f"{live['idle_opened']['seconds']} s), {live['open_at_end']}; "
            f"closed by the server {live['closed_by_server']}, messages to idle sockets "
            f"{live['idle_messages']}",
            live["open_at_end"] == live["active_wanted"] + live["idle_wanted"]
            and live["idle_messages"] == 0,
        ),
        row(
            "ws_kib_per_connection (gateway + live RSS over the idle sockets)",
            "–",
            f"{r['ws_kib_per_connection']} KiB (gateway {r['ws_gateway_kib_per_connection']}, "
            f"live {r['ws_live_kib_per_connection']}; WebSocket extensions: "
            f"{live.get('extensions') or 'none'})",
            None,
        ),
        row(
            "cached GET through the gateway with the WebSockets open (p99)",
            "– (next to the same without them)",
            f"{r['ws_cached_get_rps_with_sockets']} req/s "
            f"(p99 {ms(r['ws_cached_get_p99_ms_with_sockets'])}); without them "
            f"{r['ws_cached_get_rps_without']} req/s (p99 {ms(r['ws_cached_get_p99_ms_without'])})",
            None,
        ),
        "",
        "| scenario | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|",
    ]
    for name, s in r["chart"].items():
        lines.append(f"| {name} | {s['rps']} | {s['p50_ms']} | {s['p99_ms']} | {s['errors']} |")
    w = e["worker_max_rate"]
    cpu = o.get("cpu_ms_per_order", {})
    low = e.get("at_low_rate")
    if low:
        lines += [
            "",
            f"Event latency at a lighter {low['target_rate']:g} orders/s "
            f"({low['achieved_rate']} sent): p50 {low['p50_ms']} ms, p99 {low['p99_ms']} ms "
            f"({low['notified']}/{low['orders']} notified).",
        ]
    lines += [
        "",
        "CPU per order during POST /orders, by process (ms): "
        + ", ".join(f"{name} {ms}" for name, ms in sorted(cpu.items(), key=lambda x: -x[1])),
        "",
        f"- Database queries per order, orders + catalog web processes (django-prometheus "
        f"counters): {o.get('db_queries_per_order')}; transactions per order in every bench "
        f"database, workers included (pg_stat_database): {o.get('db_transactions_per_order')}.",
        f"- Notifications worker's maximum sustained rate: {w['events_per_s']} events/s "
        f"({w['handled']}/{w['backlog']} queued `order.created` events worked off in "
        f"{w['seconds']} s, each with its email task).",
        f"- Before the event-latency run the workers took {e['drained_before_s']} s to work off "
        "the POST /orders burst's events.",
        "- CPU per location update, by process (ms), under wrk: "
        + ", ".join(f"{name} {ms}" for name, ms in sat["cpu_ms_per_update"].items())
        + f"; wrk itself {sat['wrk_cpu_ms_per_update']}. At {fixed['offered_rate']:g}/s offered: "
        + ", ".join(f"{name} {ms}" for name, ms in fixed["cpu_ms_per_update"].items())
        + f"; the generator {fixed['generator_cpu_ms_per_req']}. Delivery database transactions "
        f"during the wrk run: {sat['delivery_db_transactions']} for {sat['ok']} updates; "
        f"statuses: {sat['statuses']}.",
        "- req/s of each round of the GET comparison (the spread; medians are in the tables): "
        + "; ".join(
            f"{name} {', '.join(str(x) for x in runs)}"
            for name, runs in r["scenarios"]["get"]["summary"]["rounds"].items()
        )
        + ".",
        "- Slow clients, each round (req/s, p99 ms): "
        + "; ".join(
            f"{name} them " + ", ".join(f"{x['rps']} ({x['p99_ms']})" for x in runs)
            for name, runs in r["scenarios"]["slow_clients"]["summary"][
                "slow_clients_rounds"
            ].items()
        )
        + f". Held clients closed by the gateway during the measured runs (and re-opened): idle "
        f"{r['slow_clients_idle_closed_by_server']}, slow {r['slow_clients_slow_closed_by_server']}"
        f"; its answers to them: {r['slow_clients_answers'] or 'none'}; gateway CPU per request "
        f"with them held: {r['slow_clients_gateway_cpu_ms_per_req']} ms; rounds with no answer "
        f"at all: {r['slow_clients_rounds_unanswered']}.",
        "",
        f"Traffic mix, {mix['step_seconds']:g} s per offered rate ({mix['seconds']} s in all; the "
        "p99 that decides leaves out the logins, whose floor is the password hash):",
        "",
        *steps_table(mix),
        "",
        *(
            f"CPU per mix request at {s['offered_rate']:g} req/s offered, by process (ms): "
            + ", ".join(f"{name} {ms}" for name, ms in s["cpu_ms_per_request"].items())
            + f"; the generator {s['generator_cpu_ms_per_req']}."
            for s in mix["steps"]
            if s["pass"] and s["offered_rate"] == mix["max_rate_per_s"]
        ),
        "",
    ]
    (out / "latest.md").write_text("\n".join(lines))


def write_chart(result: dict, out: Path = RESULTS) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(result["chart"])
    data = result["chart"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    left.bar(names, [data[n]["rps"] for n in names], color="tab:blue")
    left.set_title("Throughput (req/s; flow = place+pay per s)")
    left.tick_params(axis="x", rotation=30)
    x = range(len(names))
    # None: nothing was answered (a frozen gateway), no bar.
    right.bar([i - 0.2 for i in x], [data[n]["p50_ms"] or 0 for n in names], 0.4, label="p50")
    right.bar([i + 0.2 for i in x], [data[n]["p99_ms"] or 0 for n in names], 0.4, label="p99")
    right.set_xticks(list(x), names, rotation=30)
    right.set_yscale("log")
    right.set_title("Latency (ms, log scale)")
    right.legend()
    fig.suptitle(f"food bench {result['date']} · {result['commit'][:10]}")
    fig.tight_layout()
    fig.savefig(out / "latest.png", dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8, help="per wrk run of the GET comparison")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--orders-seconds", type=int, default=15)
    parser.add_argument("--event-seconds", type=int, default=15)
    parser.add_argument("--event-rate", type=float, default=50)
    parser.add_argument(
        "--event-low-rate", type=float, default=20, help="a second, lighter rate (0: skip it)"
    )
    parser.add_argument("--backlog", type=int, default=300, help="orders for the worker's max rate")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an environment setting of every process (e.g. WORKER_CONCURRENCY=2); repeatable",
    )
    parser.add_argument("--flow-seconds", type=int, default=30)
    parser.add_argument("--slow-idle", type=int, default=500, help="idle clients held open")
    parser.add_argument("--slow-body", type=int, default=50, help="slow-body clients held open")
    parser.add_argument("--riders", type=int, default=3000, help="riders, each with a token")
    parser.add_argument("--location-seconds", type=int, default=10, help="per location run")
    parser.add_argument(
        "--location-rate", type=float, default=1000, help="offered updates/s for the p99"
    )
    parser.add_argument("--mix-seconds", type=float, default=10, help="per rate of the mix")
    parser.add_argument("--mix-start", type=float, default=50, help="the mix's first rate, req/s")
    parser.add_argument("--mix-steps", type=int, default=6, help="at most this many mix rates")
    parser.add_argument("--mix-budget", type=float, default=150, help="seconds for the mix")
    parser.add_argument("--live-idle", type=int, default=2000, help="idle WebSockets held")
    parser.add_argument("--live-active", type=int, default=100, help="customers placing orders")
    parser.add_argument("--live-rate", type=float, default=50, help="their orders per second")
    parser.add_argument("--live-seconds", type=float, default=15, help="seconds of orders")
    parser.add_argument(
        "--live-get-seconds", type=int, default=5, help="per wrk run of the GET with/without"
    )
    parser.add_argument(
        "--db-prefix", default="food_bench", help="the stack's databases: <prefix>_<service>"
    )
    parser.add_argument(
        "--only",
        default="",
        help="location, mix and/or live (comma-separated): only those after the seeding, no report",
    )
    parser.add_argument(
        "--out", default=str(RESULTS), help="where latest.{json,md,png} go (a smoke run: elsewhere)"
    )
    args = parser.parse_args()
    only = {name for name in args.only.split(",") if name}
    if only - {"location", "mix", "live"}:
        parser.error("--only takes location, mix and/or live")
    # 550 held sockets here and 2,100 WebSockets in bench/live.py's holder, twice as many in the
    # gateway (client and upstream sides): all started from here, so all inherit the limit.
    raise_open_files()

    def too_long(signum, frame):
        raise TimeoutError(f"the benchmark ran over {TIME_LIMIT} s")

    signal.signal(signal.SIGALRM, too_long)
    signal.alarm(TIME_LIMIT)
    speed_at_start = loop_seconds()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="food-bench-"))
    overrides = dict(item.split("=", 1) for item in args.set)
    stack = Stack(
        workdir, catalog_copies=1, prefix=args.db_prefix, extra_env={**EXTRA_ENV, **overrides}
    )
    began = time.monotonic()
    print(
        f"stack in {workdir}; machine speed: a 10M-iteration loop in {speed_at_start} s", flush=True
    )
    stack.prepare()
    try:
        stack.start()
        client = Client(stack.gateway_url)
        owner_id, _ = client.register(
            f"owner-{uuid.uuid4().hex[:8]}@bench.test", "restaurant_owner"
        )
        seed(stack, 200, 15, owner_id)
        # One at a time: password hashing in parallel can push auth past the gateway's timeout.
        customers = [
            client.register(f"customer{n}@bench.test", "customer")[1] for n in range(CUSTOMERS)
        ]
        items = orderable_items(stack)
        print(f"seeded; {len(items)} orderable items, {len(customers)} customers", flush=True)
        if only:
            partial = (
                riders_and_mix(stack, workdir, args, customers, items, only)
                if only & {"location", "mix"}
                else {}
            )
            if "live" in only:
                partial["live"] = live_updates(stack, workdir, args, items)
            summary = {
                **(summarize_location(partial["location"]) if "location" in partial else {}),
                **(summarize_mix(partial["mix"]) if "mix" in partial else {}),
                **(summarize_live(partial["live"]) if "live" in partial else {}),
            }
            (out / "partial.json").write_text(
                json.dumps({"summary": summary, "scenarios": partial}, indent=2) + "\n"
            )
            print(json.dumps(summary, indent=2))
            return

        print("1-2. GET /restaurants?page=1 direct / nginx / gateway, then cache off", flush=True)
        page = "/restaurants?page=1"
        raw_get = compare_paths(
            stack, workdir, args.seconds, args.rounds, page, headers=bearer(customers[0])
        )
        get = summarize(raw_get)
        print(json.dumps(get["rounds"]), flush=True)
        print("   the gateway alone at full load: the same page from a static nginx", flush=True)
        saturated = summarize_saturated(
            gateway_saturated(
                stack, workdir, args.seconds, args.rounds, page, headers=bearer(customers[0])
            )
        )

        print(
            f"3. the same GET through the gateway with {args.slow_idle} idle and "
            f"{args.slow_body} slow clients held open, and without them",
            flush=True,
        )
        raw_slow = slow_clients_compare(
            stack,
            args.seconds,
            args.rounds,
            page,
            customers[0],
            idle=args.slow_idle,
            slow=args.slow_body,
        )
        slow = summarize_slow(raw_slow)
        print(json.dumps(slow), flush=True)

        print("4. POST /orders through the gateway (wrk)", flush=True)
        wrk(stack.gateway_url + "/health", 1)
        orders = orders_load(stack, workdir, customers, items, args.orders_seconds)
        orders["errors"] = orders["non_2xx"] + (1 if orders["socket_errors"] else 0)
        print(json.dumps(orders), flush=True)

        # The burst left a backlog of events: measure latency only once the workers are idle.
        drained = drain(stack)
        print(
            f"5. event latency at {args.event_rate} orders/s (drained in {drained} s)", flush=True
        )
        events = event_latency(stack, client, customers, items, args.event_seconds, args.event_rate)
        events["drained_before_s"] = drained
        print(json.dumps(events), flush=True)
        if args.event_low_rate:
            drain(stack)
            print(f"5a. event latency at {args.event_low_rate} orders/s", flush=True)
            events["at_low_rate"] = event_latency(
                stack, client, customers, items, args.event_seconds, args.event_low_rate
            )
            print(json.dumps(events["at_low_rate"]), flush=True)
        print(f"5b. notifications worker's maximum rate ({args.backlog} events queued)", flush=True)
        drain(stack)
        events["worker_max_rate"] = worker_max_rate(stack, client, customers, items, args.backlog)
        print(json.dumps(events["worker_max_rate"]), flush=True)

        print("6. full flow: place + pay, then reconcile", flush=True)
        flow = full_flow(stack, client, customers, items, args.flow_seconds)
        print(json.dumps({k: v for k, v in flow.items() if k != "problems"}), flush=True)
        riders_mix = riders_and_mix(stack, workdir, args, customers, items, {"location", "mix"})
        location, mix = riders_mix["location"], riders_mix["mix"]
        live = live_updates(stack, workdir, args, items)
        print(json.dumps(summarize_live(live)), flush=True)
        settings = {
            key: stack.env("gateway").get(key, default)
            for key, default in (
                ("HTTP_SERVER", "granian"),
                ("WEB_WORKERS", ""),
                ("WEB_THREADS", ""),
                ("WORKER_CONCURRENCY", ""),
                ("GATEWAY_RATE_LIMIT", ""),
                ("GATEWAY_HEADER_TIMEOUT", ""),
                ("GATEWAY_BODY_TIMEOUT", ""),
                ("GATEWAY_MAX_INFLIGHT_PER_CLIENT", ""),
                ("DELIVERY_WEB_WORKERS", ""),
                ("DELIVERY_WEB_THREADS", ""),
            )
        } | {key: value for key, value in overrides.items()}
    finally:
        signal.alarm(0)
        stack.stop()

    result = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "gateway_vs_nginx_ratio": get["gateway_vs_nginx_ratio"],
        "gateway_added_p50_ms": get["gateway_added_p50_ms"],
        "gateway_added_p50_ms_2_connections": get["gateway_added_p50_ms_light"],
        "gateway_cpu_ms_per_req": round(get["gateway"]["gateway_cpu_ms_per_req"], 3),
        **saturated,
        "cache_speedup": get["cache_speedup"],
        **{key: value for key, value in slow.items() if key != "slow_clients_rounds"},
        "orders_per_s": round(orders["rps"], 1),
        "orders_p99_ms": orders["p99_ms"],
        "event_latency_p50_ms": events["p50_ms"],
        "event_latency_p99_ms": events["p99_ms"],
        "notifications_worker_max_per_s": events["worker_max_rate"]["events_per_s"],
        "db_queries_per_order": orders["db_queries_per_order"],
        "flow_errors": flow["errors"],
        "flow_reconciled": flow["reconciled"],
        **summarize_location(location),
        **summarize_mix(mix),
        **summarize_live(live),
        "event_signing_us_per_event": measure_event_signing()["us_per_event"],
        "chart": {
            **{
                f"GET {name}": {
                    "rps": round(get[name]["rps"], 1),
                    "p50_ms": get[name]["p50_ms"],
                    "p99_ms": get[name]["p99_ms"],
                    "errors": get[name]["non_2xx"],
                }
                for name in ("direct", "nginx", "gateway", "gateway_uncached")
            },
            **{
                f"GET gateway {label}": {
                    "rps": slow[f"slow_clients{key}_get_rps"],
                    "p50_ms": slow[f"slow_clients{key}_get_p50_ms"],
                    "p99_ms": slow[f"slow_clients{key}_get_p99_ms"],
                    "errors": sum(r["non_2xx"] + r["timeouts"] for r in raw_slow[runs]),
                }
                for label, key, runs in (
                    ("(baseline)", "_baseline", "without"),
                    (f"+{args.slow_idle}+{args.slow_body} held", "", "with"),
                )
            },
            "POST /orders": {
                "rps": round(orders["rps"], 1),
                "p50_ms": orders["p50_ms"],
                "p99_ms": orders["p99_ms"],
                "errors": orders["errors"],
            },
            "flow (place+pay)": {
                "rps": flow["flows_per_s"],
                "p50_ms": flow["p50_ms"],
                "p99_ms": flow["p99_ms"],
                "errors": flow["errors"],
            },
            "PUT location (wrk)": {
                "rps": location["saturated"]["updates_per_s"],
                "p50_ms": location["saturated"]["p50_ms"],
                "p99_ms": location["saturated"]["p99_ms"],
                "errors": location["saturated"]["errors"],
            },
            f"PUT location at {args.location_rate:g}/s": {
                "rps": location["fixed_rate"]["answered_rate"],
                "p50_ms": location["fixed_rate"]["p50_ms"],
                "p99_ms": location["fixed_rate"]["p99_ms"],
                "errors": location["fixed_rate"]["errors"],
            },
            **(
                {
                    f"mix at {mix['max_rate_per_s']:g}/s": {
                        "rps": best["answered_rate"],
                        "p50_ms": best["p50_ms"],
                        "p99_ms": best["p99_ms"],
                        "errors": best["errors"],
                    }
                    for best in mix["steps"]
                    if best["pass"] and best["offered_rate"] == mix["max_rate_per_s"]
                }
            ),
        },
        "scenarios": {
            "get": {"summary": get, "runs": raw_get},
            "slow_clients": {"summary": slow, "runs": raw_slow},
            "orders": orders,
            "events": events,
            "flow": flow,
            "location": location,
            "mix": mix,
            "live": live,
        },
        "db_queries_note": (
            "db_queries_per_order: SQL statements of the orders and catalog web processes "
            "(django-prometheus counters) per order placed; the workers' statements are not in "
            "it (they serve no metrics). scenarios.orders.db_transactions_per_order counts "
            "transactions in every bench database, workers included (pg_stat_database)."
        ),
        "machine": machine() | {"loop_seconds": [speed_at_start, loop_seconds()]},
        "commit": git_commit(),
        "settings": settings,
        "args": vars(args),
        "wall_seconds": round(time.monotonic() - began, 1),
    }
    (out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    write_markdown(result, out)
    write_chart(result, out)
    print((out / "latest.md").read_text())


if __name__ == "__main__":
    main()

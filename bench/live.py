"""Live updates under load: WebSockets held open on the gateway's /ws/live while orders are placed.

Used by bench/run.py (its last phase, `live`). Customers are seeded as bench/location.py seeds riders (auth's
own code in `manage.py shell`: one bulk INSERT, one password hash, each the access token a login
returns), `active` of them and `idle / IDLE_PER_CUSTOMER` more. The sockets are held by this
file run as a script (`python bench/live.py plan.json`), one asyncio process with the
`websockets` client, so its clock and event loop are not shared with the thread pool that places
the orders. Each socket connects to `ws://<gateway>/ws/live?after=0` with the subprotocols
`["bearer", <token>]` and counts as open once the server's `{"type": "ready"}` arrived. Then,
one step after the other, told on its stdin:

1. one socket per active customer is opened; the gateway's and the live process's RSS (their
   whole process groups) are read, and the cached `GET /restaurants?page=1` is run with wrk
   through the gateway (without the idle sockets);
2. the idle sockets are opened (`IDLE_PER_CUSTOMER` per customer, whose orders never change),
   the RSS is read again, and the same wrk run is repeated (with them): memory per connection is
   the difference over the idle sockets opened;
3. orders are placed at a fixed rate for the active customers (each in turn, from a thread pool,
   as bench/run.py's event latency does); each `order.created` notification is pushed to its
   customer's socket. Push latency is the time the message was read here minus the event's
   `occurred_at` in the orders database's outbox (written in the order's transaction, just before
   it commits; every process is on this machine, one clock), p50/p99; the push hop alone (the
   message's `at`, the notification's `created_at`, to its arrival) is reported beside it.

What an idle socket received (nothing is expected) and how many sockets were closed by the server
during the run are reported too.
"""

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import psycopg
import urllib3
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.stack
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway import bearer, wrk  # noqa: E402
from location import DEFAULT_CENTER, MARKER, manage_shell  # noqa: E402

from tests.stack import Stack  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432/"
IDLE_PER_CUSTOMER = 10  # idle sockets per idle customer (a user with several tabs and devices)
OPENING_AT_ONCE = 50  # WebSocket handshakes in flight at a time

AUTH_SEED = """
import json, os
from django.contrib.auth.hashers import make_password
from django.db import transaction
from accounts.models import User
from accounts.tokens import RefreshToken

count, prefix = int(os.environ["BENCH_USERS"]), os.environ["BENCH_USER_PREFIX"]
password = make_password(os.environ["BENCH_PASSWORD"])
with transaction.atomic():
    users = User.objects.bulk_create(
        [User(email=f"{prefix}{n}@bench.test", role="customer", password=password)
         for n in range(count)]
    )
    out = [[user.id, str(RefreshToken.for_user(user).access_token)] for user in users]
print("BENCH-JSON " + json.dumps(out))
"""


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))], 1)


def seed_customers(stack: Stack, count: int, password: str) -> list[list]:
    """Create `count` customers; return [user id, access token] for each."""
    out = manage_shell(
        stack,
        "auth",
        AUTH_SEED,
        {
            "BENCH_USERS": str(count),
            "BENCH_USER_PREFIX": f"live-{os.getpid()}-{time.monotonic_ns()}-",
            "BENCH_PASSWORD": password,
        },
    )
    line = next(x for x in out.splitlines() if x.startswith(MARKER))
    return json.loads(line[len(MARKER) :])


def group_rss_kib(pgid: int) -> int:
    """Return the resident memory (KiB) of every live process in a process group."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return total


def rss(stack: Stack) -> dict[str, int]:
    return {
        name: sum(group_rss_kib(p.proc.pid) for p in stack.processes[name] if p.proc is not None)
        for name in ("gateway", "live")
    }


def place_orders(base: str, tokens: list[str], items, rate: float, seconds: float) -> dict:
    """POST orders at `rate` per second for `seconds`, customers and items in turn."""
    http = urllib3.PoolManager(maxsize=32, retries=False, timeout=urllib3.Timeout(5, read=15))
    placed: list[int] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()

    def place(n: int) -> None:
        rid, mid = items[(n * 31) % len(items)][:2]
        body = {
            "restaurant_id": rid,
            "items": [{"menu_item_id": mid, "quantity": 1}],
            "delivery_address": "5 Live Sq",
            "delivery_lat": DEFAULT_CENTER[0],
            "delivery_lon": DEFAULT_CENTER[1],
        }
        headers = {"Content-Type": "application/json", **bearer(tokens[n % len(tokens)])}
        try:
            reply = http.request("POST", base + "/orders", body=json.dumps(body), headers=headers)
            status, order_id = reply.status, json.loads(reply.data).get("id")
        except (urllib3.exceptions.HTTPError, ValueError, AttributeError) as exc:
            status, order_id = type(exc).__name__, None
        with lock:
            if status == 201:
                placed.append(order_id)
            else:
                errors[str(status)] = errors.get(str(status), 0) + 1

    total = int(seconds * rate)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=32) as pool:
        for n in range(total):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(place, n)
    sent_for = time.monotonic() - start
    return {"placed": placed, "errors": errors, "sent_rate": round(total / sent_for, 1)}


def event_times(stack: Stack, order_ids: list[int]) -> dict[int, float]:
    """Return {order id: occurred_at (epoch s)} of the `order.created` outbox rows of `order_ids`."""
    with psycopg.connect(PG + stack.database("orders"), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT (data->>'order_id')::bigint, occurred_at FROM events_outboxevent "
            "WHERE type = 'order.created' AND (data->>'order_id')::bigint = ANY(%s)",
            (order_ids,),
        ).fetchall()
    return {oid: at.timestamp() for oid, at in rows}


class Holder:
    """This file as a script, holding the sockets; steps are lines on its stdin and stdout."""

    def __init__(self, workdir: Path, plan: dict):
        path = workdir / "live-plan.json"
        path.write_text(json.dumps(plan))
        self.stderr = open(workdir / "live-holder.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, __file__, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )

    def step(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the socket holder exited; see {self.stderr.name}")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.stderr.close()


def live_load(
    stack: Stack,
    workdir: Path,
    items,
    password: str,
    *,
    idle: int,
    active: int,
    rate: float,
    seconds: float,
    get_seconds: int,
) -> dict:
    """Hold `idle` + `active` sockets on the gateway and place orders at `rate`; see the module."""
    began = time.monotonic()
    users = seed_customers(stack, active + -(-idle // IDLE_PER_CUSTOMER), password)
    actives, idles = users[:active], users[active:]
    print(f"   {len(users)} customers seeded in {time.monotonic() - began:.1f} s", flush=True)
    page = stack.gateway_url + "/restaurants?page=1"
    get_headers = bearer(actives[0][1])
    holder = Holder(
        workdir,
        {
            "url": stack.gateway_url.replace("http://", "ws://", 1) + "/ws/live?after=0",
            "active": actives,
            "idle": [idles[n % len(idles)] for n in range(idle)],
        },
    )
    try:
        opened_active = holder.step("active")
        print(f"   active sockets: {json.dumps(opened_active)}", flush=True)
        time.sleep(1)
        rss_without = rss(stack)
        get_without = wrk(page, get_seconds, headers=get_headers)
        opened_idle = holder.step("idle")
        print(f"   idle sockets: {json.dumps(opened_idle)}", flush=True)
        time.sleep(1)
        rss_with = rss(stack)
        get_with = wrk(page, get_seconds, headers=get_headers)
        print(f"   GET without / with: {get_without['rps']} / {get_with['rps']} req/s", flush=True)
        orders = place_orders(stack.gateway_url, [t for _, t in actives], items, rate, seconds)
        held = holder.step(f"stop {len(orders['placed'])} 15")
    finally:
        holder.close()
    committed = event_times(stack, orders["placed"])
    receipts = {oid: (at, got) for oid, at, got in held.pop("receipts") if oid in committed}
    push = [(got - committed[oid]) * 1000 for oid, (_, got) in receipts.items()]
    hop = [(got - at) * 1000 for at, got in receipts.values()]
    opened = opened_idle["opened"]
    per_process = {
        name: round((rss_with[name] - rss_without[name]) / opened, 1) if opened else None
        for name in rss_with
    }
    return {
        "idle_wanted": idle,
        "active_wanted": active,
        "idle_customers": len(idles),
        "active_opened": opened_active,
        "idle_opened": opened_idle,
        "rss_kib_without": rss_without,
        "rss_kib_with": rss_with,
        "kib_per_connection": per_process,
        "get_without": get_without,
        "get_with": get_with,
        "offered_rate": rate,
        "sent_rate": orders["sent_rate"],
        "orders": len(orders["placed"]),
        "order_errors": orders["errors"],
        "pushed": len(receipts),
        "push_p50_ms": pct(push, 50),
        "push_p99_ms": pct(push, 99),
        "push_max_ms": round(max(push), 1) if push else None,
        "push_hop_p50_ms": pct(hop, 50),
        "push_hop_p99_ms": pct(hop, 99),
        **held,
        "seconds": round(time.monotonic() - began, 1),
    }


def summarize_live(result: dict) -> dict:
    """The headline keys of the live-updates scenario."""
    per = result["kib_per_connection"]
    return {
        "ws_push_p50_ms": result["push_p50_ms"],
        "ws_push_p99_ms": result["push_p99_ms"],
        "ws_pushed": result["pushed"],
        "ws_orders": result["orders"],
        "ws_idle_sockets": result["idle_opened"]["opened"],
        "ws_kib_per_connection": (
            round(per["gateway"] + per["live"], 1) if None not in per.values() else None
        ),
        "ws_gateway_kib_per_connection": per["gateway"],
        "ws_live_kib_per_connection": per["live"],
        "ws_cached_get_rps_with_sockets": result["get_with"]["rps"],
        "ws_cached_get_rps_without": result["get_without"]["rps"],
        "ws_cached_get_p99_ms_with_sockets": result["get_with"]["p99_ms"],
        "ws_cached_get_p99_ms_without": result["get_without"]["p99_ms"],
    }


# -- the socket holder (this file as a script) -------------------------------------------------
async def hold(plan: dict) -> None:
    loop = asyncio.get_running_loop()
    receipts: list[list] = []  # [order id, the message's `at` (epoch s), read at (epoch s)]
    counts = {"idle_messages": 0, "closed_by_server": 0, "active_messages": 0}
    sockets: list = []
    gate = asyncio.Semaphore(OPENING_AT_ONCE)
    closing = False

    async def listen(ws, active: bool) -> None:
        with contextlib.suppress(ConnectionClosed):  # counted below
            async for raw in ws:
                got = time.time()
                message = json.loads(raw)
                if not active:
                    counts["idle_messages"] += 1
                elif message.get("order_id") is not None:
                    counts["active_messages"] += 1
                    at = datetime.fromisoformat(message["at"]).timestamp()
                    receipts.append([message["order_id"], at, got])
        if not closing:
            counts["closed_by_server"] += 1

    async def open_one(token: str, active: bool) -> str | None:
        async with gate:
            try:
                ws = await connect(
                    plan["url"],
                    subprotocols=["bearer", token],
                    ping_interval=None,
                    open_timeout=30,
                )
                # What the handshake agreed (permessage-deflate costs memory on both sides).
                counts.setdefault("extensions", ws.response.headers.get("Sec-WebSocket-Extensions"))
                ready = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if ready.get("type") != "ready":
                    return f"first message {ready.get('type')}"
            except Exception as exc:
                return type(exc).__name__
        sockets.append(ws)
        loop.create_task(listen(ws, active))
        return None

    async def open_all(tokens: list[str], active: bool) -> dict:
        began = time.monotonic()
        failed = await asyncio.gather(*(open_one(t, active) for t in tokens))
        reasons: dict[str, int] = {}
        for reason in filter(None, failed):
            reasons[reason] = reasons.get(reason, 0) + 1
        return {
            "opened": len(tokens) - sum(reasons.values()),
            "failed": reasons,
            "seconds": round(time.monotonic() - began, 1),
        }

    def reply(data: dict) -> None:
        sys.stdout.write(json.dumps(data) + "\n")
        sys.stdout.flush()

    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    while line := (await stdin.readline()).decode().split():
        if line[0] == "active":
            reply(await open_all([t for _, t in plan["active"]], True))
        elif line[0] == "idle":
            reply(await open_all([t for _, t in plan["idle"]], False))
        elif line[0] == "stop":
            expected, deadline = int(line[1]), time.monotonic() + float(line[2])
            while len({r[0] for r in receipts}) < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            first: dict[int, list] = {}
            for oid, at, got in receipts:
                first.setdefault(oid, [oid, at, got])
            open_now = sum(1 for ws in sockets if ws.state.name == "OPEN")
            result = {
                **counts,
                "open_at_end": open_now,
                "receipts": list(first.values()),
            }
            closing = True
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
            reply(result)
            return


if __name__ == "__main__":
    asyncio.run(hold(json.loads(Path(sys.argv[1]).read_text())))

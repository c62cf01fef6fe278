"""An open-loop load generator: requests sent at a fixed offered rate, whatever the answers do.

    python bench/openloop.py PLAN.json        # prints the result as one JSON object

wrk (closed loop) sends the next request when an answer comes back, so a slow server slows the
load down and its p99 hides the wait (coordinated omission); wrk2's fixed rate is not packaged in
Debian. Here each operation has its time, start + i / rate, and its latency is counted from that
time, not from when it was sent: a generator that falls behind makes the figures worse, never
better. How far behind it fell (`lag_p99_ms`) and the CPU it used (`generator_cpu_ms_per_req`)
are reported with them, so a run where the generator was the bottleneck shows it.

The plan (written by bench/location.py and bench/mix.py) holds the gateway's address, the rate
in requests per second, the seconds (or a `count` of operations), the operations' weights and
their data:
- `location`: `PUT /riders/me/location` with the next rider's token, a position near theirs (204);
- `order_pay`: `POST /orders` with a customer's token, then `POST /payments` for that order with a
  test card, both with an Idempotency-Key (two requests: 201, then 2xx);
- `browse`: `GET /restaurants?page=N` or a restaurant's `GET /restaurants/{id}/menu` (200);
- `login`: `POST /auth/login` with a customer's email and password (200).
Riders are taken in turn from `rider_start` (the next one is returned as `rider_next`), so that
consecutive runs keep each rider's updates `riders / location rate` seconds apart.
"""

import asyncio
import json
import resource
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import uvloop

# The gateway's own upstream client (gateway/upstream.py): pooled kept-alive connections, about
# half the CPU per request of aiohttp's ClientSession, which this generator used before
# 2026-12-03 (0.52-0.55 ms of its own CPU per location update at 1,000/s).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gateway_project"))
from gateway.upstream import UpstreamError, UpstreamPool  # noqa: E402

REQUESTS_PER_OP = {"location": 1, "order_pay": 2, "browse": 1, "login": 1}
CARD_OK = "4242424242424242"


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))], 1)


def op_sequence(weights: dict[str, int]) -> list[str]:
    """Return one cycle of operations, each kind spread evenly (smooth weighted round robin)."""
    current = dict.fromkeys(weights, 0)
    total = sum(weights.values())
    cycle = []
    for _ in range(total):
        for kind, weight in weights.items():
            current[kind] += weight
        chosen = max(current, key=current.get)
        current[chosen] -= total
        cycle.append(chosen)
    return cycle


class Run:
    def __init__(self, plan: dict):
        self.plan = plan
        self.base = plan["base"]
        parts = urlsplit(plan["base"])
        self.address = (parts.hostname, parts.port or 80)
        self.timeout = plan.get("timeout", 10)
        self.latencies: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.lags: list[float] = []
        self.counter = {"rider": plan.get("rider_start", 0), "customer": 0, "browse": 0}

    def record(self, kind: str, began: float, status: int | str, expected) -> bool:
        ok = status in expected if isinstance(status, int) else False
        if ok:
            latency = (time.monotonic() - began) * 1000
            self.latencies.setdefault(kind, []).append(latency)
        else:
            key = f"{kind} {status}"
            self.errors[key] = self.errors.get(key, 0) + 1
        return ok

    async def call(self, pool, kind, began, method, path, token=None, body=None, key=None):
        """Send one request; return (ok, parsed JSON or None)."""
        headers = [("accept", "application/json")]
        if token:
            headers.append(("authorization", f"Bearer {token}"))
        if key:
            headers.append(("idempotency-key", key))
        data = b""
        if body is not None:
            headers.append(("content-type", "application/json"))
            data = json.dumps(body).encode()
        expected = {"location": (204,), "order": (201,), "payment": (200, 201)}.get(kind, (200,))
        try:
            async with asyncio.timeout(self.timeout):
                answer = await pool.request(
                    self.address,
                    method,
                    path,
                    headers,
                    data,
                    connect_timeout=self.timeout,
                    read_timeout=self.timeout,
                )
                raw = await answer.read()
                status = answer.status
        except TimeoutError:
            status = "timeout"
            raw = b""
        except UpstreamError as exc:
            status = type(exc).__name__
            raw = b""
        ok = self.record(kind, began, status, expected)
        if ok and raw and kind == "order":
            return ok, json.loads(raw)
        return ok, None

    async def location(self, pool, began):
        riders = self.plan["riders"]
        n = self.counter["rider"]
        self.counter["rider"] = n + 1
        token, lat, lon = riders[n % len(riders)]
        # A rider moves a little between updates (≈ 10 m a step).
        step = (n // len(riders)) % 20
        body = {"lat": round(lat + step * 0.0001, 6), "lon": round(lon + step * 0.0001, 6)}
        await self.call(pool, "location", began, "PUT", "/riders/me/location", token, body)

    def next_customer(self) -> list:
        customers = self.plan["customers"]
        n = self.counter["customer"]
        self.counter["customer"] = n + 1
        return customers[n % len(customers)]

    async def order_pay(self, pool, began):
        _, token = self.next_customer()
        items = self.plan["items"]
        restaurant_id, item_id, lat, lon = items[(self.counter["customer"] * 31) % len(items)]
        body = {
            "restaurant_id": restaurant_id,
            "items": [{"menu_item_id": item_id, "quantity": 1}],
            "delivery_address": "7 Mix Rd",
            "delivery_lat": round(lat + 0.004, 6),
            "delivery_lon": round(lon + 0.004, 6),
        }
        key = uuid.uuid4().hex
        ok, order = await self.call(pool, "order", began, "POST", "/orders", token, body, key)
        if not ok or order is None:
            return
        body = {"order_id": order["id"], "card_number": CARD_OK}
        paid_at = time.monotonic()
        await self.call(pool, "payment", paid_at, "POST", "/payments", token, body, key + "-pay")

    async def browse(self, pool, began):
        _, token = self.next_customer()
        n = self.counter["browse"]
        self.counter["browse"] = n + 1
        if n % 2:
            restaurants = self.plan["restaurants"]
            path = f"/restaurants/{restaurants[(n * 7) % len(restaurants)]}/menu"
        else:
            path = f"/restaurants?page={(n // 2) % self.plan['pages'] + 1}"
        await self.call(pool, "browse", began, "GET", path, token)

    async def login(self, pool, began):
        email, _ = self.next_customer()
        body = {"email": email, "password": self.plan["password"]}
        await self.call(pool, "login", began, "POST", "/auth/login", None, body)

    async def run(self) -> dict:
        plan = self.plan
        weights = plan["weights"]
        cycle = op_sequence(weights)
        requests_per_cycle = sum(REQUESTS_PER_OP[kind] for kind in cycle)
        op_rate = plan["rate"] * len(cycle) / requests_per_cycle
        total = plan.get("count") or round(plan["seconds"] * op_rate)
        pool = UpstreamPool(limit_per_host=plan.get("connections", 256))
        tasks = []
        try:
            cpu_before = resource.getrusage(resource.RUSAGE_SELF)
            start = time.monotonic() + 0.05
            for i in range(total):
                due = start + i / op_rate
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.lags.append((time.monotonic() - due) * 1000)
                kind = cycle[i % len(cycle)]
                tasks.append(asyncio.ensure_future(getattr(self, kind)(pool, due)))
            # The last operation is due at (total - 1) / op_rate: count the whole period.
            sent_seconds = max(time.monotonic() - start, total / op_rate)
            await asyncio.gather(*tasks)
            elapsed = time.monotonic() - start
            cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        finally:
            pool.close()
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
            cpu_after.ru_stime - cpu_before.ru_stime
        )
        sent = sum(REQUESTS_PER_OP[cycle[i % len(cycle)]] for i in range(total))
        everything = [x for values in self.latencies.values() for x in values]
        requests = len(everything) + sum(self.errors.values())
        return {
            "offered_rate": plan["rate"],
            "seconds": plan["seconds"],
            "sent_rate": round(sent / sent_seconds, 1) if sent_seconds > 0 else None,
            "answered_rate": round(len(everything) / elapsed, 1) if elapsed > 0 else None,
            "requests": requests,
            "ok": len(everything),
            "errors": sum(self.errors.values()),
            "errors_by_kind": self.errors,
            "p50_ms": pct(everything, 50),
            "p99_ms": pct(everything, 99),
            "max_ms": round(max(everything), 1) if everything else None,
            "by_kind": {
                kind: {
                    "ok": len(values),
                    "p50_ms": pct(values, 50),
                    "p99_ms": pct(values, 99),
                }
                for kind, values in sorted(self.latencies.items())
            },
            "lag_p99_ms": pct(self.lags, 99),
            "lag_max_ms": round(max(self.lags), 1) if self.lags else None,
            "generator_cpu_s": round(cpu, 2),
            "generator_cpu_ms_per_req": round(cpu * 1000 / requests, 3) if requests else None,
            "rider_next": self.counter["rider"],
        } | (
            {"latencies": {k: [round(x, 1) for x in v] for k, v in self.latencies.items()}}
            if plan.get("keep_latencies")
            else {}
        )


def main() -> None:
    plan = json.loads(open(sys.argv[1]).read())  # noqa: SIM115 - read once
    result = uvloop.run(Run(plan).run())
    print(json.dumps(result))


if __name__ == "__main__":
    main()

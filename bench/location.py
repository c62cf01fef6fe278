"""Rider location updates through the gateway: `PUT /riders/me/location`, the hot path.

Used by bench/run.py (its phase 7). Many riders, each with its own token:

- `seed_riders` makes them without the public sign-up. Registering and logging in costs two
  password hashes (PBKDF2, about 0.27 s of CPU each on the benchmark machine), so 3,000 riders
  through `POST /auth/register` + `POST /auth/login` would take about half an hour of CPU. Instead
  auth's own code, in `manage.py shell`, creates the users in one bulk INSERT (role `rider`, the
  bench password hashed once) and issues each the access token a login returns
  (`RefreshToken.for_user(user).access_token`, signed with the stack's key, the same claims);
  delivery's ORM then creates their profiles, verified and available, in one bulk INSERT (what an
  admin's `POST /riders/{id}/verify` and the rider's `PATCH /riders/me` would leave). No rider
  state is put in Redis: each rider's first update reads it from the database, as in production.
- `location_load` sends every rider one update, three times over (closed loop, see `warm_up`:
  then each rider's dispatch state is in Redis and their token known to the delivery processes,
  as in the steady state), then runs wrk for the throughput with a Lua script that takes the riders' tokens in
  turn (each wrk thread its own half of them, so no rider is sent two updates at once), then the
  same requests at a fixed offered rate from bench/openloop.py for the p99. Each rider's updates
  stay `riders / rate` seconds apart (3,000 riders at 1,000 updates/s: one every 3 s), above the
  service's RIDER_LOCATION_MIN_INTERVAL (1 s, its default, not changed for the bench): a 429
  counts as an error.
"""

import json
import os
import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.stack
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway import group_cpu_seconds, wrk  # noqa: E402

from tests.stack import ROOT, VENV_BIN, Stack  # noqa: E402

PG = "postgresql://postgres@127.0.0.1:5432/"
# Where riders and deliveries are when the catalog has no restaurant positions: the city
# seed_catalog spreads the restaurants over (Berlin, Alexanderplatz).
DEFAULT_CENTER = (52.5219, 13.4132)
MARKER = "BENCH-JSON "

AUTH_SEED = """
import json, os
from django.contrib.auth.hashers import make_password
from django.db import transaction
from accounts.models import User
from accounts.tokens import RefreshToken

count, prefix = int(os.environ["BENCH_RIDERS"]), os.environ["BENCH_RIDER_PREFIX"]
password = make_password(os.environ["BENCH_PASSWORD"])
with transaction.atomic():
    users = User.objects.bulk_create(
        [User(email=f"{prefix}{n}@bench.test", role="rider", password=password)
         for n in range(count)]
    )
    out = [[user.id, str(RefreshToken.for_user(user).access_token)] for user in users]
print("BENCH-JSON " + json.dumps(out))
"""

DELIVERY_SEED = """
import os
from delivery.models import Rider

ids = [int(x) for x in os.environ["BENCH_RIDER_IDS"].split(",")]
vehicles = ["bicycle", "scooter", "car"]
Rider.objects.bulk_create(
    [Rider(user_id=user_id, name=f"Bench rider {n}", phone=f"+3360{n:07d}",
           vehicle_type=vehicles[n % 3], verified=True, available=True)
     for n, user_id in enumerate(ids)],
    batch_size=1000,
)
"""

LUA = """
local riders = {%(riders)s}
local threads = {}
local stride = %(threads)d
local path = "%(counts)s"
tid = 0

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  n = tid
  statuses = {}
end

function request()
  local rider = riders[(n %% #riders) + 1]
  -- A rider moves a little between updates (about 10 m a step).
  local step = math.floor(n / #riders) %% 20
  n = n + stride
  local body = string.format('{"lat": %%.6f, "lon": %%.6f}',
    rider[2] + step * 0.0001, rider[3] + step * 0.0001)
  return wrk.format("PUT", "/riders/me/location", {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. rider[1],
  }, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local out = io.open(path, "w")
  for status, count in pairs(counts) do out:write(status, " ", count, "\\n") end
  out:close()
end
"""


def manage_shell(stack: Stack, service: str, code: str, env: dict) -> str:
    """Run `code` in `manage.py shell` of one of the stack's services; return its stdout."""
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", "shell", "-c", code],
        cwd=ROOT / f"{service}_project",
        env={**stack.env(service), **env},
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise RuntimeError(f"{service} shell failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    return result.stdout


def restaurant_positions(stack: Stack) -> list[tuple[int, float, float]]:
    """Return (id, lat, lon) of the open restaurants; at DEFAULT_CENTER if they have none."""
    with psycopg.connect(PG + stack.database("catalog"), autocommit=True) as conn:
        columns = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'catalog_restaurant'"
            )
        }
        if {"lat", "lon"} <= columns:
            rows = conn.execute(
                "SELECT id, lat, lon FROM catalog_restaurant WHERE is_open ORDER BY id"
            ).fetchall()
        else:
            rows = conn.execute("SELECT id FROM catalog_restaurant WHERE is_open ORDER BY id")
            rows = [(rid, None, None) for (rid,) in rows]
    lat0, lon0 = DEFAULT_CENTER
    return [
        (rid, lat0 if lat is None else lat, lon0 if lon is None else lon) for rid, lat, lon in rows
    ]


def seed_riders(stack: Stack, count: int, password: str) -> list[list]:
    """Create `count` verified, available riders; return [token, lat, lon] for each.

    Each rider starts near one of the restaurants (within about a kilometre), taken in turn.
    """
    began = time.monotonic()
    out = manage_shell(
        stack,
        "auth",
        AUTH_SEED,
        {
            "BENCH_RIDERS": str(count),
            "BENCH_RIDER_PREFIX": f"rider-{os.getpid()}-",
            "BENCH_PASSWORD": password,
        },
    )
    line = next(x for x in out.splitlines() if x.startswith(MARKER))
    users = json.loads(line[len(MARKER) :])
    manage_shell(
        stack, "delivery", DELIVERY_SEED, {"BENCH_RIDER_IDS": ",".join(str(u[0]) for u in users)}
    )
    places = restaurant_positions(stack)
    riders = []
    for n, (_, token) in enumerate(users):
        _, lat, lon = places[n % len(places)]
        # Spread around the restaurant: up to ±0.009° (about 1 km) on each axis.
        riders.append([token, lat + ((n * 37) % 19 - 9) * 0.001, lon + ((n * 53) % 19 - 9) * 0.001])
    print(f"   {count} riders seeded in {time.monotonic() - began:.1f} s", flush=True)
    return riders


def stack_cpu(stack: Stack) -> dict[str, float]:
    """Return the CPU seconds used so far by each of the stack's process groups, Redis included."""
    cpu = {
        name: sum(group_cpu_seconds(p.proc.pid) for p in copies if p.proc is not None)
        for name, copies in stack.processes.items()
    }
    if stack.redis is not None and stack.redis.proc is not None:
        cpu["redis"] = group_cpu_seconds(stack.redis.proc.pid)
    return cpu


def cpu_ms_per(before: dict, after: dict, count: int) -> dict[str, float]:
    """CPU ms per unit of each process between two stack_cpu() readings, biggest first."""
    if not count:
        return {}
    per = {name: (after[name] - before.get(name, 0)) * 1000 / count for name in after}
    # Processes that used no CPU tick in between are left out.
    return {name: round(ms, 3) for name, ms in sorted(per.items(), key=lambda x: -x[1]) if ms > 0}


def transactions(stack: Stack, service: str) -> int:
    """Return the commits + rollbacks of one service's database so far (pg_stat_database)."""
    with psycopg.connect(PG + "postgres", autocommit=True) as conn:
        return conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = %s",
            (stack.database(service),),
        ).fetchone()[0]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def open_loop(workdir: Path, name: str, plan: dict) -> dict:
    """Run bench/openloop.py on `plan` in its own process; return its result."""
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(plan))
    out = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("openloop.py")), str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def wrk_location(stack: Stack, workdir: Path, riders: list[list], seconds: int, connections: int):
    """wrk the location update with the riders' tokens in turn; return its figures by status."""
    counts = workdir / "location-statuses.txt"
    script = workdir / "location.lua"
    script.write_text(
        LUA
        % {
            "riders": ", ".join(f'{{"{t}", {lat:.6f}, {lon:.6f}}}' for t, lat, lon in riders),
            "threads": 2,  # gateway.wrk runs wrk -t2
            "counts": str(counts),
        }
    )
    run = wrk(
        stack.gateway_url + "/riders/me/location",
        seconds,
        connections=connections,
        script=str(script),
    )
    statuses = {}
    if counts.exists():
        for line in counts.read_text().split("\n"):
            if line.strip():
                status, count = line.split()
                statuses[status] = int(count)
    run["statuses"] = statuses
    run["ok"] = statuses.get("204", 0)
    return run


def warm_up(base: str, riders: list[list], threads: int = 8) -> dict:
    """Send every rider's first update, closed loop from `threads` threads; return the statuses.

    A rider's first update reads their dispatch state from the database (three queries) before
    Redis has it: at a fixed rate above what that costs, requests would pile up in the service,
    the gateway would time them out and open its circuit, and the measured runs would start on a
    backlog. Closed loop, the warm-up goes as fast as the service answers and no faster.
    """
    http = urllib3.PoolManager(maxsize=threads, retries=False, timeout=urllib3.Timeout(15))
    statuses: dict[str, int] = {}
    lock = threading.Lock()

    def send(rider: list) -> None:
        token, lat, lon = rider
        try:
            status = http.request(
                "PUT",
                base + "/riders/me/location",
                body=json.dumps({"lat": round(lat, 6), "lon": round(lon, 6)}),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            ).status
        except urllib3.exceptions.HTTPError as exc:
            status = type(exc).__name__
        with lock:
            statuses[str(status)] = statuses.get(str(status), 0) + 1

    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(send, riders))
    elapsed = time.monotonic() - began
    return {"seconds": round(elapsed, 1), "per_s": round(len(riders) / elapsed, 1), **statuses}


def location_load(
    stack: Stack,
    workdir: Path,
    riders: list[list],
    *,
    seconds: int,
    rate: float,
    connections: int = 32,
    min_interval: float = 1.0,
) -> dict:
    """Warm-up pass, wrk (the throughput), then a fixed offered `rate` (the p99); see the module."""
    base = stack.gateway_url
    pause = min_interval + 0.2  # no rider sends two updates closer than the service allows
    # Three passes: each delivery process (DELIVERY_WEB_WORKERS) remembers the tokens it has
    # verified, and a token's first update in a process goes through Django (RS256 and all; the
    # location shortcut takes only known tokens). A rider reporting every few seconds sends a
    # token about a hundred updates in its five minutes, so the steady state is the warm one;
    # after three passes a token is new to a given process in about one case in eight.
    for round_ in range(1, 4):
        if round_ > 1:
            time.sleep(pause)
        warm = warm_up(base, riders)
        print(f"   warm-up {round_}/3, every rider once: {json.dumps(warm)}", flush=True)

    time.sleep(pause)
    cpu_before, xact_before, gen_before = (
        stack_cpu(stack),
        transactions(stack, "delivery"),
        children_cpu(),
    )
    saturated = wrk_location(stack, workdir, riders, seconds, connections)
    cpu_after, xact_after, gen_after = (
        stack_cpu(stack),
        transactions(stack, "delivery"),
        children_cpu(),
    )
    ok = saturated["ok"]
    saturated["updates_per_s"] = round(ok / seconds, 1)
    saturated["errors"] = saturated["requests"] - ok + (1 if saturated["socket_errors"] else 0)
    saturated["cpu_ms_per_update"] = cpu_ms_per(cpu_before, cpu_after, ok)
    saturated["stack_cpu_ms_per_update"] = round(sum(saturated["cpu_ms_per_update"].values()), 3)
    saturated["wrk_cpu_ms_per_update"] = (
        round((gen_after - gen_before) * 1000 / ok, 3) if ok else None
    )
    saturated["delivery_db_transactions"] = xact_after - xact_before
    saturated["seconds_between_a_riders_updates"] = (
        round(len(riders) / saturated["updates_per_s"], 2) if saturated["updates_per_s"] else None
    )
    print(f"   wrk, {connections} connections: {json.dumps(saturated)}", flush=True)

    time.sleep(pause)
    cpu_before = stack_cpu(stack)
    fixed = open_loop(
        workdir,
        "location-fixed-rate",
        {
            "base": base,
            "rate": rate,
            "seconds": seconds,
            "weights": {"location": 1},
            "riders": riders,
        },
    )
    cpu_after = stack_cpu(stack)
    fixed["cpu_ms_per_update"] = cpu_ms_per(cpu_before, cpu_after, fixed["ok"])
    fixed["stack_cpu_ms_per_update"] = round(sum(fixed["cpu_ms_per_update"].values()), 3)
    fixed["seconds_between_a_riders_updates"] = round(len(riders) / rate, 2)
    print(f"   fixed rate {rate:g}/s: {json.dumps(fixed)}", flush=True)
    return {"riders": len(riders), "warm_up": warm, "saturated": saturated, "fixed_rate": fixed}


def summarize_location(result: dict) -> dict:
    """The headline keys of the location scenario."""
    saturated, fixed = result["saturated"], result["fixed_rate"]
    return {
        "location_updates_per_s": saturated["updates_per_s"],
        "location_errors": saturated["errors"],
        "location_saturated_p99_ms": saturated["p99_ms"],
        "location_p99_ms": fixed["p99_ms"],
        "location_p99_offered_rate": fixed["offered_rate"],
        "location_fixed_rate_answered_per_s": fixed["answered_rate"],
        "location_fixed_rate_errors": fixed["errors"],
        "location_cpu_ms_per_update": saturated["stack_cpu_ms_per_update"],
    }

"""`make up` from a fresh copy of this tree with the embedded PostgreSQL and Redis, end to end.

    python tests/embedded_walkthrough.py [--timeout SECONDS]

Copies the working tree (what `git ls-files` lists, tracked and new files: a fresh clone of this
tree) into a temporary folder, runs `make up EMBEDDED_SERVICES=1` there (its own venv, its own
var/: PostgreSQL and Redis from their wheels on free ports; the machine's 5432 and 6379 are never
used: no URL of the run points at them), waits for a healthy gateway, registers, orders and pays
through it, stops `make up` (SIGTERM to its process group), checks every port is closed again,
starts `make up` a second time and finds the order still there, PAID, with a fresh login.
Prints the time from the copy to a healthy gateway for both starts. Not collected by pytest (CI
runs it from .ci/run after `make test`); the whole run is bounded by --timeout.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GATEWAY = "http://127.0.0.1:8000"
HTTP_PORTS = (8000, 4001, 4002, 4003, 4004)
PROCFILE_PORTS = (*HTTP_PORTS, 5555)
PASSWORD = "a-Long-enough-passw0rd"
# Variables that would point the run at other servers than its own embedded ones.
FOREIGN = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "GATEWAY_RATE_LIMIT_REDIS_URL")


class Failed(Exception):
    pass


def machine_footprint() -> dict:
    """Return the food_* databases on this machine's own PostgreSQL (None if it does not answer).

    The default URLs name it (127.0.0.1:5432): a process of the run that ignored the embedded
    servers' addresses would create its database there. (Redis keeps no such trace: keys expire.)
    """
    try:
        import psycopg  # noqa: PLC0415 - the outer venv's, only for this check

        url = "postgresql://postgres@127.0.0.1:5432/postgres"
        with psycopg.connect(url, connect_timeout=2) as conn:
            rows = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'food\\_%'")
            return {"postgres": sorted(row[0] for row in rows)}
    except Exception:  # noqa: BLE001 - no PostgreSQL here: nothing to compare
        return {"postgres": None}


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def request(method: str, path: str, body=None, token=None, headers=None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(GATEWAY + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as response:  # noqa: S310 - loopback only
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def expect(status: int, answer: tuple[int, dict], what: str) -> dict:
    if answer[0] != status:
        raise Failed(f"{what}: expected {status}, got {answer[0]} {answer[1]}")
    return answer[1]


def copy_tree(target: Path) -> None:
    """The tracked and the new (not ignored) files of the working tree, as a fresh clone has."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            destination = target / os.fsdecode(name)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)


class MakeUp:
    """`make up` in `workdir`, in its own process group, its output in a log file."""

    def __init__(self, workdir: Path, log: Path):
        self.workdir, self.log = workdir, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.endswith(FOREIGN)}
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = os.pathsep.join(  # not the outer venv: the copy installs its own
            p for p in env.get("PATH", "").split(os.pathsep) if not p.startswith(str(ROOT))
        )
        env.update(EMBEDDED_SERVICES="1", PYTHONUNBUFFERED="1")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                ["make", "up"],
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def wait_healthy(self, deadline: float) -> None:
        """Until the gateway and the four services behind it answer /health (honcho starts them
        all at once: the gateway can be up before auth is)."""
        waiting = list(HTTP_PORTS)
        while waiting and time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failed(f"make up exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                url = f"http://127.0.0.1:{waiting[0]}/health"
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                    if response.status == 200:
                        waiting.pop(0)
                        continue
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        if waiting:
            raise Failed(f"ports {waiting} not healthy in time:\n{self.tail()}")

    def stop(self, timeout: float = 90) -> None:
        """SIGTERM to the process group (as Ctrl-C would), then wait for everything to be gone."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
            raise Failed(f"make up did not stop within {timeout}s:\n{self.tail()}") from None


def place_and_pay() -> tuple[str, int]:
    """Register a customer, order the first available dish of a seeded restaurant, pay it."""
    email = f"walk-{uuid.uuid4().hex[:10]}@example.com"
    expect(
        201, request("POST", "/auth/register", {"email": email, "password": PASSWORD}), "register"
    )
    access = expect(
        200, request("POST", "/auth/login", {"email": email, "password": PASSWORD}), "login"
    )["access"]
    restaurants = expect(200, request("GET", "/restaurants"), "restaurants")["results"]
    for restaurant in restaurants:
        if not restaurant.get("is_open", True):
            continue
        menu = expect(200, request("GET", f"/restaurants/{restaurant['id']}/menu"), "menu")
        items = [item for item in menu["results"] if item.get("is_available", True)]
        if items:
            break
    else:
        raise Failed(f"no open restaurant with a dish among {len(restaurants)} seeded")
    order = expect(
        201,
        request(
            "POST",
            "/orders",
            {
                "restaurant_id": restaurant["id"],
                "items": [{"menu_item_id": items[0]["id"], "quantity": 2}],
                "delivery_address": "10 Home St",
                "delivery_lat": 52.53,
                "delivery_lon": 13.41,
            },
            token=access,
            headers={"Idempotency-Key": uuid.uuid4().hex},
        ),
        "order",
    )
    payment = request(
        "POST",
        "/payments",
        {"order_id": order["id"], "card_number": "4242424242424242"},
        token=access,
        headers={"Idempotency-Key": f"pay-{order['id']}"},
    )
    if payment[0] not in (200, 201):
        raise Failed(f"payment: {payment}")
    wait_for_status(email, order["id"], "paid", time.monotonic() + 30)
    return email, order["id"]


def wait_for_status(email: str, order_id: int, status: str, deadline: float) -> dict:
    """Log in afresh and read the order until it has `status` (events are asynchronous)."""
    access = expect(
        200, request("POST", "/auth/login", {"email": email, "password": PASSWORD}), "login"
    )["access"]
    while True:
        order = expect(200, request("GET", f"/orders/{order_id}", token=access), "read order")
        if str(order.get("status", "")).lower() == status or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    if str(order.get("status", "")).lower() != status:
        raise Failed(f"order {order_id} is {order.get('status')!r}, expected {status!r}")
    return order


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=900, help="bound of the whole run (s)")
    parser.add_argument("--keep", action="store_true", help="keep the copy (to read its logs)")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    busy = [port for port in PROCFILE_PORTS if port_open(port)]
    if busy:
        print(f"walkthrough: ports {busy} are taken (a `make up` running?)", file=sys.stderr)
        return 1

    workdir = Path(tempfile.mkdtemp(prefix="food-walkthrough-"))
    log = workdir.parent / f"{workdir.name}.log"
    make_up = MakeUp(workdir, log)
    try:
        copy_tree(workdir)
        before = machine_footprint()
        began = time.monotonic()
        make_up.start()
        make_up.wait_healthy(deadline)
        first = time.monotonic() - began
        print(f"walkthrough: fresh copy to a healthy gateway (embedded servers): {first:.0f} s")
        if "embedded on 127.0.0.1:" not in log.read_text():
            raise Failed(f"make up did not say it runs embedded servers:\n{make_up.tail()}")
        email, order_id = place_and_pay()
        print(f"walkthrough: {email} ordered and paid order {order_id}")

        make_up.stop()
        still = [port for port in PROCFILE_PORTS if port_open(port)]
        if still:
            raise Failed(f"ports still open after make up stopped: {still}")
        if (workdir / "var" / "embedded.env").exists():
            raise Failed("var/embedded.env left behind: the embedded servers were not stopped")

        began = time.monotonic()
        make_up.start()
        make_up.wait_healthy(deadline)
        second = time.monotonic() - began
        print(f"walkthrough: restart to a healthy gateway: {second:.0f} s")
        wait_for_status(email, order_id, "paid", time.monotonic() + 10)
        print(f"walkthrough: after the restart order {order_id} is still there, paid")
        after = machine_footprint()
        if after != before:
            raise Failed(f"the run reached this machine's own PostgreSQL: {before} -> {after}")
        print("walkthrough: no database of the run on this machine's own PostgreSQL")
        return 0
    except Failed as exc:
        print(f"walkthrough FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        try:
            make_up.stop()
        except Failed as exc:
            print(f"walkthrough: {exc}", file=sys.stderr)
        if args.keep:
            print(f"walkthrough: kept {workdir} and {log}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            log.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())

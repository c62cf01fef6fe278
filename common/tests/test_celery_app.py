"""Every task runs under the request id of what queued it, Celery's own lines included; workers
keep their database connection between tasks, and replace a broken one."""

import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import redis
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection

from food_common.celery_app import Task, beat_schedule_problems
from food_common.events.tasks import handle_event
from food_common.request_id import current_request_id, get_request_id
from food_common.settings_base import beat_entry, outbox_purge, outbox_sweep
from tests.conftest import BROKER_REDIS_URL
from tests.tasks import log_a_line

COMMON_DIR = Path(__file__).resolve().parents[1]


@contextmanager
def request_id(value: str):
    """Handle a request with id `value` (what RequestIDMiddleware binds)."""
    token = current_request_id.set(value)
    try:
        yield
    finally:
        current_request_id.reset(token)


# -- the request id of every task --------------------------------------------------------------


def test_every_task_has_the_request_id_base(celery_app):
    assert isinstance(log_a_line, Task) and isinstance(handle_event, Task)
    assert hasattr(handle_event, "delay_on_commit"), "still Celery's Django task"


def test_a_message_carries_the_publishers_request_id_unless_the_sender_chose_one(
    celery_app, broker_redis
):
    queue = f"test-{uuid.uuid4().hex}"
    try:
        with request_id("pub-1"):
            log_a_line.apply_async(args=["a"], queue=queue)
            log_a_line.apply_async(args=["b"], queue=queue, headers={"request_id": "chosen-1"})
        log_a_line.apply_async(args=["c"], queue=queue)
        headers = [json.loads(raw)["headers"] for raw in broker_redis.lrange(queue, 0, -1)]
    finally:
        broker_redis.delete(queue)
    sent = {header["argsrepr"]: header["request_id"] for header in headers}
    assert sent == {"['a']": "pub-1", "['b']": "chosen-1", "['c']": "-"}


def test_an_eager_task_runs_under_its_callers_request_id_unless_given_one(eager):
    with request_id("caller-1"):
        assert log_a_line.apply_async(args=["x"]).get() == "caller-1"
        given = log_a_line.apply_async(args=["x"], headers={"request_id": "given-1"})
        assert given.get() == "given-1"
        assert get_request_id() == "caller-1"
    assert log_a_line.apply_async(args=["x"]).get() == "-"
    assert log_a_line.apply_async(args=["x"], headers={"request_id": "bad id"}).get() == "-"


class Worker:
    """A worker process of the tests' Celery app, consuming a queue of its own."""

    def __init__(self, queue: str, log: Path, process: subprocess.Popen):
        self.queue, self.log, self.process = queue, log, process

    def records(self) -> list[dict]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def run(self, text: str, **options) -> dict[str, str]:
        """Queue log_a_line(`text`); return the request id of each of its lines once it ran."""
        task_id = log_a_line.apply_async(args=[text], queue=self.queue, **options).id
        deadline = time.monotonic() + 60
        while True:
            seen = {}
            for record in self.records():
                if record["logger"] == "celery.worker.strategy" and task_id in record["message"]:
                    seen["received"] = record["request_id"]
                elif record["logger"] == "tests.tasks" and record["message"] == f"task says {text}":
                    seen["own"] = record["request_id"]
                elif record["logger"] == "celery.app.trace" and task_id in record["message"]:
                    assert "succeeded" in record["message"], record
                    seen["succeeded"] = record["request_id"]
            if len(seen) == 3:
                return seen
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"task {task_id} did not run: {seen}"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    """A real worker as bin/worker starts one (prefork, here one child process, JSON log lines)."""
    queue = f"test-worker-{uuid.uuid4().hex}"
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "LOG_LEVEL": "INFO"}
    argv = [sys.executable, "-m", "celery", "-A", "tests.celery", "worker", "-Q", queue]
    argv += ["-n", f"{queue}@%h", "--concurrency", "1", "--loglevel", "INFO"]
    argv += ["--without-mingle", "--without-gossip", "--without-heartbeat"]
    with log.open("w") as out:
        process = subprocess.Popen(
            argv, cwd=COMMON_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text():
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        yield Worker(queue, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        broker = redis.Redis.from_url(BROKER_REDIS_URL)
        keys = list(broker.scan_iter(match=f"*{queue}*", count=1000))
        if keys:
            broker.delete(*keys)
        broker.close()


def test_a_worker_logs_a_task_under_the_request_id_of_what_queued_it(worker, celery_app):
    # Celery's "received" line (the worker's main process), the task's own line and Celery's
    # "succeeded" line (the child process that ran it) all carry the publisher's id.
    with request_id("req-worker-1"):
        seen = worker.run("from a request")
    assert seen == {"received": "req-worker-1", "own": "req-worker-1", "succeeded": "req-worker-1"}


def test_a_task_queued_outside_a_request_runs_under_a_dash_even_after_one_that_had_an_id(
    worker, celery_app
):
    with request_id("req-worker-2"):
        first = worker.run("before")
    assert set(first.values()) == {"req-worker-2"}
    # The same two processes (one child) take the next task: nothing of the first is left bound.
    assert set(worker.run("outside a request").values()) == {"-"}


def test_a_worker_logs_a_task_under_the_request_id_its_sender_chose(worker, celery_app):
    with request_id("req-worker-3"):
        seen = worker.run("chosen", headers={"request_id": "chosen-by-sender"})
    assert set(seen.values()) == {"chosen-by-sender"}


# -- beat ----------------------------------------------------------------------------------------


@pytest.fixture
def beat_schedule(celery_app):
    """Return `use(schedule)`: the app's beat schedule from now on (restored after the test)."""
    saved = celery_app.conf.beat_schedule

    def use(schedule: dict) -> None:
        celery_app.conf.beat_schedule = schedule

    yield use
    celery_app.conf.beat_schedule = saved


def test_beat_schedule_problems_name_foreign_queues_unknown_tasks_and_a_missing_sweep(
    celery_app, beat_schedule
):
    # The tests' app consumes "test-q" (tests.apps), as the services' apps consume theirs.
    beat_schedule({"sweep": outbox_sweep("test-q")})
    assert beat_schedule_problems(celery_app) == []

    beat_schedule(
        {
            "sweep": outbox_sweep("elsewhere"),
            "typo": beat_entry("tests.log_a_lin", queue="test-q", every=60.0),
        }
    )
    assert beat_schedule_problems(celery_app) == [
        "sweep: queue 'elsewhere' is none of this project's ('test-q',)",
        "typo: the project has no task 'tests.log_a_lin'",
    ]
    beat_schedule({"log": beat_entry("tests.log_a_line", queue="test-q", every=1.0)})
    assert beat_schedule_problems(celery_app) == [
        "no outbox sweep: add outbox_sweep(<queue>) to CELERY_BEAT_SCHEDULE"
    ]


def test_a_beat_entry_expires_when_the_next_run_is_due():
    assert beat_entry("t", queue="q", every=60.0) == {
        "task": "t",
        "schedule": 60.0,
        "options": {"queue": "q", "expires": 60.0},
    }
    assert outbox_sweep("q")["task"] == "food.events.relay_outbox"
    assert outbox_sweep("q")["schedule"] == 5.0  # EVENT_RELAY_INTERVAL
    assert outbox_purge("q") == beat_entry("food.events.purge_outbox", queue="q", every=3600)


# -- database connections ----------------------------------------------------------------------


@pytest.fixture
def worker_fixup(celery_app):
    """Celery's Django fixup as a worker process installs it, on a connection set up as the
    services set theirs (food_common.settings_base: CONN_MAX_AGE 60, health checks on)."""
    fixup = DjangoWorkerFixup(celery_app)
    assert fixup.db_reuse_max == 1000  # CELERY_DB_REUSE_MAX from food_common.settings_base
    saved = {key: connection.settings_dict[key] for key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS")}
    connection.close()
    connection.settings_dict.update(CONN_MAX_AGE=60, CONN_HEALTH_CHECKS=True)
    yield fixup
    connection.close()
    connection.settings_dict.update(saved)


def run_task(fixup, query: str = "SELECT pg_backend_pid()"):
    """Do what a worker does around one task (prerun and postrun signals) and return a query's row."""
    fixup.on_task_prerun(handle_event)
    task_prerun.send(sender=handle_event, task_id="t", task=handle_event)
    with connection.cursor() as cursor:
        cursor.execute(query)
        row = cursor.fetchone()
    fixup.on_task_postrun(handle_event)
    task_postrun.send(sender=handle_event, task_id="t", task=handle_event)
    return row


@pytest.mark.django_db(transaction=True)
def test_one_database_connection_serves_many_tasks(worker_fixup):
    pids = {run_task(worker_fixup)[0] for _ in range(20)}
    assert len(pids) == 1


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_database_dropped_is_replaced_before_the_next_task(worker_fixup):
    (first_pid,) = run_task(worker_fixup)
    dsn = connection.get_connection_params()
    with psycopg.connect(**dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [first_pid])
    (second_pid,) = run_task(worker_fixup)
    assert second_pid != first_pid


@pytest.mark.django_db(transaction=True)
def test_a_connection_older_than_conn_max_age_is_closed_between_tasks(worker_fixup):
    (first_pid,) = run_task(worker_fixup)
    connection.close_at = 0  # as if CONN_MAX_AGE had passed since it was opened
    (second_pid,) = run_task(worker_fixup)
    assert second_pid != first_pid

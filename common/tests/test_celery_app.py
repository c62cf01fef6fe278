"""Workers keep their database connection between tasks, and replace a broken one."""

import psycopg
import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.db import connection

from food_common.events.tasks import handle_event

pytestmark = pytest.mark.django_db(transaction=True)


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


def test_one_database_connection_serves_many_tasks(worker_fixup):
    pids = {run_task(worker_fixup)[0] for _ in range(20)}
    assert len(pids) == 1


def test_a_connection_the_database_dropped_is_replaced_before_the_next_task(worker_fixup):
    (first_pid,) = run_task(worker_fixup)
    dsn = connection.get_connection_params()
    with psycopg.connect(**dsn, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [first_pid])
    (second_pid,) = run_task(worker_fixup)
    assert second_pid != first_pid


def test_a_connection_older_than_conn_max_age_is_closed_between_tasks(worker_fixup):
    (first_pid,) = run_task(worker_fixup)
    connection.close_at = 0  # as if CONN_MAX_AGE had passed since it was opened
    (second_pid,) = run_task(worker_fixup)
    assert second_pid != first_pid

"""The Celery application of a project: configured from Django settings (CELERY_*)."""

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections


def make_celery_app(service: str) -> Celery:
    """Return the Celery app of `service`, with tasks found in every installed app."""
    app = Celery(service)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    return app


def _recycle_database_connections(sender=None, **kwargs) -> None:
    """Treat each task like a Django request: drop a connection that is too old or broken.

    Celery's Django fixup opens a new database connection for every task unless
    CELERY_DB_REUSE_MAX is set (celery/celery#9824). Connecting and closing was a third of the
    notifications worker's CPU (bench/README.md), so the settings set CELERY_DB_REUSE_MAX and
    this handler applies what Django applies around each request: CONN_MAX_AGE, and
    CONN_HEALTH_CHECKS so that a connection the database dropped is replaced before it is used.
    """
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


task_prerun.connect(_recycle_database_connections, weak=False, dispatch_uid="food_db_prerun")
task_postrun.connect(_recycle_database_connections, weak=False, dispatch_uid="food_db_postrun")

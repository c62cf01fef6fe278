"""The Celery application of a project: configured from Django settings (CELERY_*)."""

from celery import Celery


def make_celery_app(service: str) -> Celery:
    """Return the Celery app of `service`, with tasks found in every installed app."""
    app = Celery(service)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    return app

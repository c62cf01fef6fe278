"""The Celery application of a project: configured from Django settings (CELERY_*).

Every task runs under the request id of what queued it, as a request does (food_common.request_id):
the id travels as the message header `request_id`, set at publish time from the publisher's current
id unless the sender chose one (the outbox relay sends the id its event was published under), and
is bound while a worker handles the message: in the worker's main process around Celery's "Task ...
received" line, and in the process that runs the task from task_prerun to task_postrun (the task's
own lines and Celery's "Task ... succeeded", "... retry" or "... raised"). A task queued outside a
request runs under "-".
"""

from celery import Celery
from celery.contrib.django.task import DjangoTask
from celery.signals import before_task_publish, task_postrun, task_prerun
from django.db import close_old_connections

from food_common.request_id import current_request_id, get_request_id, task_request_id

REQUEST_ID_HEADER = "request_id"


class Task(DjangoTask):
    """The base of every task of a project: Celery's Django task (the one its Django fixup
    picks), received under its message's request id."""

    Strategy = "food_common.celery_app:receive_under_request_id"


def make_celery_app(service: str) -> Celery:
    """Return the Celery app of `service`, with tasks found in every installed app."""
    app = Celery(service, task_cls=Task)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    return app


def beat_schedule_problems(app: Celery) -> list[str]:
    """Return what is wrong with the project's beat schedule (CELERY_BEAT_SCHEDULE), if anything.

    Each project declares its own: every entry must send a task of the project to a queue of
    its apps (food_common.events.queues), and a project that publishes events needs its sweep.
    """
    from django.apps import apps

    from food_common.events.queues import local_queues

    app.loader.import_default_modules()
    queues = local_queues()
    schedule = app.conf.beat_schedule or {}
    problems = []
    for name, entry in schedule.items():
        if entry["task"] not in app.tasks:
            problems.append(f"{name}: the project has no task {entry['task']!r}")
        queue = entry.get("options", {}).get("queue")
        if queue not in queues:
            problems.append(f"{name}: queue {queue!r} is none of this project's {queues}")
    if apps.is_installed("food_common.events"):
        from food_common.events.tasks import relay_outbox

        if not any(entry["task"] == relay_outbox.name for entry in schedule.values()):
            problems.append("no outbox sweep: add outbox_sweep(<queue>) to CELERY_BEAT_SCHEDULE")
    return problems


def receive_under_request_id(task, app, consumer, **kwargs):
    """Return Celery's default handler of `task`'s messages, run under each message's request id.

    The worker's main process logs "Task ... received" (celery.worker.strategy) before it sends
    any signal (task_received comes after that line), so the id is bound around the whole handling.
    """
    from celery.worker.strategy import default  # worker code: imported in workers only

    handle = default(task, app, consumer, **kwargs)

    def handle_under_request_id(message, *args, **kwargs):
        headers = message.headers or {}
        token = current_request_id.set(task_request_id(headers.get(REQUEST_ID_HEADER)))
        try:
            return handle(message, *args, **kwargs)
        finally:
            current_request_id.reset(token)

    return handle_under_request_id


def _send_request_id(headers=None, **kwargs) -> None:
    """Carry the publisher's request id in the message, unless the sender set one."""
    if headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, get_request_id())


def _bind_request_id(task=None, **kwargs) -> None:
    """Bind the request id of the task about to run (reset by _reset_request_id after it ran)."""
    request = task.request
    # A worker puts the message's headers on the request; an eager call keeps them in .headers,
    # and without one runs under its caller's id, in its caller's context.
    value = getattr(request, REQUEST_ID_HEADER, None) or (request.headers or {}).get(
        REQUEST_ID_HEADER
    )
    if not value and request.is_eager:
        value = get_request_id()
    request._request_id_token = current_request_id.set(task_request_id(value))


def _reset_request_id(task=None, **kwargs) -> None:
    token = getattr(task.request, "_request_id_token", None)
    if token is not None:
        current_request_id.reset(token)


def _recycle_database_connections(sender=None, **kwargs) -> None:
    """Treat each task like a Django request: drop a connection that is too old or broken.

    Celery's Django fixup opens a new database connection for every task unless
    CELERY_DB_REUSE_MAX is set (celery/celery#9824). Connecting and closing was a third of a busy
    worker's CPU (bench/README.md), so the settings set CELERY_DB_REUSE_MAX and
    this handler applies what Django applies around each request: CONN_MAX_AGE, and
    CONN_HEALTH_CHECKS so that a connection the database dropped is replaced before it is used.
    """
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


before_task_publish.connect(_send_request_id, weak=False, dispatch_uid="food_request_id_publish")
task_prerun.connect(_bind_request_id, weak=False, dispatch_uid="food_request_id_prerun")
task_postrun.connect(_reset_request_id, weak=False, dispatch_uid="food_request_id_postrun")
task_prerun.connect(_recycle_database_connections, weak=False, dispatch_uid="food_db_prerun")
task_postrun.connect(_recycle_database_connections, weak=False, dispatch_uid="food_db_postrun")

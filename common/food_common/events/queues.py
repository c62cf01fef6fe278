"""The queues of this project: each app that consumes events or runs tasks names its own.

An app declares `event_queue = "<name>"` on its AppConfig; that queue's worker runs the app's event
handlers and tasks. The shared package never names a queue itself.
"""

from django.apps import apps


def local_queues() -> tuple[str, ...]:
    """Return the queues of this project's installed apps, sorted."""
    return tuple(
        sorted(
            {q for config in apps.get_app_configs() if (q := getattr(config, "event_queue", ""))}
        )
    )

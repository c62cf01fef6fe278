"""Logging to stdout, one line per record, with the service name and the request id.

LOG_FORMAT picks the line: `json` (the default: one JSON object, for log collectors) or `console`
(readable, `make up`).
"""

import logging
import os

from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.json import JsonFormatter

from food_common.request_id import get_request_id

LOG_FORMATS = ("json", "console")


class RequestIDFilter:
    """Put the current request id and the service name on every log record."""

    def __init__(self, service: str | None = None):
        self.service = service or os.environ.get("SERVICE_NAME", "-")

    def filter(self, record) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = get_request_id()
        record.service = self.service
        return True


class PeriodicTaskNoiseFilter:
    """Drop Celery's routine INFO lines about the project's periodic tasks (CELERY_BEAT_SCHEDULE).

    Beat's "Sending due task", a worker's "received" and a "succeeded" that returned nothing
    (0 or None) come every few seconds while nothing happens (the outbox sweep); a periodic task
    logs what it did itself, and warnings and errors always pass.
    """

    LOGGERS = frozenset({"celery.beat", "celery.worker.strategy", "celery.app.trace"})

    def filter(self, record) -> bool:
        if record.levelno >= logging.WARNING or record.name not in self.LOGGERS:
            return True
        data = getattr(record, "data", None)  # a worker's lines: the task in `data`
        if isinstance(data, dict):
            task, result = data.get("name"), data.get("return_value", "None")
        elif isinstance(record.args, tuple) and record.args:  # beat's: (entry, task)
            task, result = record.args[-1], "None"
        else:
            return True
        return not (task in periodic_tasks() and result in ("0", "None"))


def periodic_tasks() -> set[str]:
    """Return the names of the tasks the project's beat sends."""
    from django.conf import settings

    if not settings.configured:
        return set()
    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None) or {}
    return {entry["task"] for entry in schedule.values()}


class ServiceJsonFormatter(JsonFormatter):
    """Format a record as one JSON object with time, level, service, logger, request id and message."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "rename_fields", {"asctime": "time", "levelname": "level", "name": "logger"}
        )
        kwargs.setdefault("timestamp", False)
        super().__init__(
            "%(asctime)s %(levelname)s %(service)s %(name)s %(request_id)s %(message)s",
            *args,
            **kwargs,
        )


class ConsoleFormatter(logging.Formatter):
    """Format a record as one readable line: time, level, service, request id, logger: message."""

    def __init__(self):
        super().__init__(
            "%(asctime)s.%(msecs)03d %(levelname)-7s %(service)s %(request_id)s %(name)s: "
            "%(message)s",
            datefmt="%H:%M:%S",
        )


def logging_config(service: str, level: str = "INFO", log_format: str = "json") -> dict:
    """Return a LOGGING dict that writes `log_format` lines ("json" or "console") to stdout."""
    if log_format not in LOG_FORMATS:
        raise ImproperlyConfigured(f"LOG_FORMAT must be one of {LOG_FORMATS}, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIDFilter, "service": service},
            "periodic_task_noise": {"()": PeriodicTaskNoiseFilter},
        },
        "formatters": {
            "json": {"()": ServiceJsonFormatter},
            "console": {"()": ConsoleFormatter},
        },
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "filters": ["request_id", "periodic_task_noise"],
                "formatter": log_format,
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            # Django logs every 4xx/5xx again as "django.request"; our access line already has it.
            "django.request": {"level": "ERROR"},
            "django.server": {"level": "WARNING"},
        },
    }

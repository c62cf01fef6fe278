"""JSON logging to stdout: one object per line, with the service name and the request id."""

import os

from pythonjsonlogger.json import JsonFormatter

from food_common.request_id import get_request_id


class RequestIDFilter:
    """Put the current request id and the service name on every log record."""

    def __init__(self, service: str | None = None):
        self.service = service or os.environ.get("SERVICE_NAME", "-")

    def filter(self, record) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = get_request_id()
        record.service = self.service
        return True


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


def logging_config(service: str, level: str = "INFO") -> dict:
    """Return a LOGGING dict that writes JSON lines to stdout for `service`."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIDFilter, "service": service}},
        "formatters": {"json": {"()": ServiceJsonFormatter}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stdout",
                "filters": ["request_id"],
                "formatter": "json",
            }
        },
        "root": {"handlers": ["stdout"], "level": level},
        "loggers": {
            # Django logs every 4xx/5xx again as "django.request"; our access line already has it.
            "django.request": {"level": "ERROR"},
            "django.server": {"level": "WARNING"},
        },
    }

"""Request ids: accept or generate `X-Request-ID`, keep it in a context variable, return it.

The id is put on every log record (see `food_common.logging`), passed on outbound service calls
(`food_common.http`) and carried by events and every Celery task (`food_common.celery_app`), so
one id follows a request through every process.
"""

import contextvars
import logging
import re
import secrets
import time

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

access_log = logging.getLogger("food.access")


def new_request_id() -> str:
    """Return a fresh request id."""
    return secrets.token_hex(16)  # 32 hex digits like uuid4().hex, for less CPU per request


def clean_request_id(value: str | None) -> str:
    """Return `value` if it is a safe request id, else a fresh one (never trust a header blindly)."""
    if value and _VALID.fullmatch(value):
        return value
    return new_request_id()


def task_request_id(value: object) -> str:
    """Return the request id a task message carried, or "-" if it carried none (or not an id)."""
    return value if isinstance(value, str) and _VALID.fullmatch(value) else "-"


def get_request_id() -> str:
    """Return the request id of the request or task being handled ("-" outside one)."""
    return current_request_id.get()


class RequestIDMiddleware:
    """Accept or generate the request id, expose it on the response, and log one line per request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = clean_request_id(request.META.get(META_KEY))
        request.request_id = request_id
        token = current_request_id.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[HEADER] = request_id
            log_access(
                request.method,
                request.get_full_path(),
                request.path,
                response.status_code,
                started,
            )
            return response
        finally:
            current_request_id.reset(token)


def log_access(
    method: str, full_path: str, path: str, status: int, started: float, **fields
) -> None:
    """Log the access line of one answered request (`started`: its time.perf_counter()), with
    `fields` as more extra fields (the gateway's `upstream`)."""
    if access_log.isEnabledFor(logging.INFO):
        access_log.info(
            "%s %s %s",
            method,
            full_path,
            status,
            extra={
                "method": method,
                "path": path,
                "status": status,
                **fields,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )

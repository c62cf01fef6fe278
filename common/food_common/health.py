"""`GET /health` (the process is up) and `GET /ready` (its database, Redis and broker answer)."""

import logging
from functools import wraps

from django.conf import settings
from django.db import connections
from django.http import JsonResponse
from django.utils.module_loading import import_string

from food_common.errors import ErrorCode, error_body

logger = logging.getLogger(__name__)


def check_database() -> None:
    """Raise if the default database does not answer a trivial query."""
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")


def check_redis() -> None:
    """Raise if the cache's Redis does not answer PING."""
    from django_redis import get_redis_connection

    get_redis_connection("default").ping()


def check_broker() -> None:
    """Raise if the Celery broker (Redis) does not answer PING."""
    import redis

    client = redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=1
    )
    try:
        client.ping()
    finally:
        client.close()


DEFAULT_READY_CHECKS = {
    "database": "food_common.health.check_database",
    "redis": "food_common.health.check_redis",
}


def run_checks(checks: dict[str, str]) -> dict[str, str]:
    """Return each check's outcome: "ok" or the error it raised, in one line."""
    results = {}
    for name, path in checks.items():
        try:
            import_string(path)()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready", said in one line
            results[name] = (
                f"error: {exc.__class__.__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            )
    return results


def safe_methods_only(view):
    """Answer methods other than GET/HEAD with a JSON 405 (probes may use HEAD)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse(
                error_body(f'Method "{request.method}" not allowed.', ErrorCode.METHOD_NOT_ALLOWED),
                status=405,
            )
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return wrapper


@safe_methods_only
def health(request):
    return JsonResponse({"status": "ok", "service": settings.SERVICE_NAME})


@safe_methods_only
def ready(request):
    results = run_checks(getattr(settings, "READY_CHECKS", DEFAULT_READY_CHECKS))
    failed = [name for name, outcome in results.items() if outcome != "ok"]
    if failed:
        logger.warning("not ready: %s", ", ".join(f"{n} ({results[n]})" for n in failed))
    return JsonResponse(
        {
            "status": "unavailable" if failed else "ok",
            "service": settings.SERVICE_NAME,
            "checks": results,
            **({"failed": failed} if failed else {}),
        },
        status=503 if failed else 200,
    )

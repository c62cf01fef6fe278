"""Settings every service shares; a project star-imports this, then applies `service_settings(...)`.

Everything comes from the environment with a working local default (see `.env.example`).
"""

import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url

from food_common.env import env_bool, env_float, env_int, env_list, env_secret, env_str
from food_common.logging import logging_config

# Off unless set: a deployment that forgets it never shows Django's debug pages or runs on the
# local secrets. `make up`, the Makefile's test targets and every project's pytest set DEBUG=1.
DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY", "local-only-insecure-secret-key-change-me-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "*")
CSRF_FAILURE_VIEW = "food_common.errors.csrf_failure"
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS", "http://localhost:8000,http://127.0.0.1:8000"
)
USE_X_FORWARDED_HOST = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "django_prometheus",
    "axes",
    "food_common",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "food_common.request_id.RequestIDMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as axes asks: turns an admin login refused for a lockout into its 429.
    "axes.middleware.AxesMiddleware",
]

# Admin login lockout (django-axes, attempts in each project's database): AXES_FAILURE_LIMIT failed
# logins at an admin from one client address, or for one username, refuse that address or username
# at every admin login for AXES_COOLOFF_MINUTES (0: until `manage.py axes_reset`), with 429 JSON
# (axes' text page for a browser) and Retry-After. Only the admins' login forms count
# (food_common.admin_lockout); the client address is the throttles' (NUM_PROXIES).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15)) or None
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_ONLY_ADMIN_SITE = True
AXES_USERNAME_FORM_FIELD = "username"  # the admin form's field, whatever the user model's is
AXES_HANDLER = "food_common.admin_lockout.AdminLoginHandler"
AXES_CLIENT_IP_CALLABLE = "food_common.admin_lockout.client_address"
AXES_LOCKOUT_CALLABLE = "food_common.admin_lockout.lockout_response"
AXES_VERBOSE = False  # no banner on every start and management command; lockouts still log

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
# The admins show times to the second (food_common/formats: Django 5 always localizes, so a
# format module, not settings.DATETIME_FORMAT, sets them).
FORMAT_MODULE_PATH = ["food_common.formats"]
APPEND_SLASH = False

# Bodies above this answer 413 JSON (the gateway enforces its own limit first).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("MAX_BODY_BYTES", 1024 * 1024)

REDIS_URL = env_str("REDIS_URL", "redis://127.0.0.1:6379/1")
CACHES = {
    "default": {
        # django-redis, counted by django-prometheus (gets, hits, misses, failures).
        "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": env_float("REDIS_CONNECT_TIMEOUT", 0.5),
            "SOCKET_TIMEOUT": env_float("REDIS_TIMEOUT", 0.5),
        },
    }
}
# Celery on Redis carries the events (food_common.events). Chosen on purpose, see
# docs/architecture.md: late acks + re-queue when a worker dies, one message prefetched at a time,
# and a visibility timeout after which an unacknowledged message is delivered again.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
CELERY_BROKER_CONNECTION_TIMEOUT = env_float("CELERY_BROKER_CONNECTION_TIMEOUT", 1.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
EVENT_VISIBILITY_TIMEOUT = env_int("EVENT_VISIBILITY_TIMEOUT", 300)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": EVENT_VISIBILITY_TIMEOUT,
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
    "socket_connect_timeout": 1,
    # Publishing gives up at once when Redis is away (the outbox sweep sends it later), instead
    # of kombu's default reconnect wait inside the HTTP request.
    "max_retries": 0,
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_WORKER_SEND_TASK_EVENTS = True
# Workers keep their database connection between tasks (Celery's default is a new connection per
# task): closed every CELERY_DB_REUSE_MAX tasks, and between tasks when older than CONN_MAX_AGE
# or broken (food_common.celery_app).
CELERY_DB_REUSE_MAX = 1000
# Event handlers: retries with exponential backoff, then a dead letter.
EVENT_MAX_RETRIES = env_int("EVENT_MAX_RETRIES", 5)
EVENT_RETRY_BASE_SECONDS = env_float("EVENT_RETRY_BASE_SECONDS", 1.0)
EVENT_RETRY_MAX_SECONDS = env_float("EVENT_RETRY_MAX_SECONDS", 60.0)
EVENT_RELAY_INTERVAL = env_float("EVENT_RELAY_INTERVAL", 5.0)
# Days a sent outbox event is kept (an order's trail in the admin shows it meanwhile); 0 keeps
# them all. Purged hourly by each publishing project's beat; an unsent event is never purged.
EVENT_OUTBOX_RETENTION_DAYS = env_float("EVENT_OUTBOX_RETENTION_DAYS", 30.0)
# publish() checks each event's data against the contract's JSON Schema
# (food_common.events.contract): 40-140 µs per event here (an order of 10 lines: 0.5 ms), so on by
# default only with DEBUG (local runs, every project's tests).
EVENT_CONTRACT_VALIDATE = env_bool("EVENT_CONTRACT_VALIDATE", DEBUG)

# Access tokens are verified locally from the auth service's JWKS (food_common.tokens).
JWT_JWKS_URL = env_str("JWT_JWKS_URL", "http://127.0.0.1:4001/auth/.well-known/jwks.json")
JWT_JWKS_TIMEOUT = env_float("JWT_JWKS_TIMEOUT", 3.0)
JWT_ISSUER = env_str("JWT_ISSUER", "food-auth")
JWT_AUDIENCE = env_str("JWT_AUDIENCE", "food-api")
JWT_LEEWAY = env_int("JWT_LEEWAY", 0)
# Tokens a process remembers as verified (about 1.5 KB each): size it to the users active within
# a token's lifetime, riders on shift above all (every few seconds each, through the gateway and
# delivery); tokens used in turn, more of them than it holds, are verified afresh every time.
JWT_VERIFIED_TOKENS = env_int("JWT_VERIFIED_TOKENS", 10_000)

# Outbound service calls (food_common.http.ServiceClient).
SERVICE_CONNECT_TIMEOUT = env_float("SERVICE_CONNECT_TIMEOUT", 1.0)
SERVICE_READ_TIMEOUT = env_float("SERVICE_READ_TIMEOUT", 5.0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["food_common.authentication.JWKSAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSONParser, but deeply nested JSON is a 400 too (not a RecursionError's 500).
    "DEFAULT_PARSER_CLASSES": ["food_common.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "food_common.schema.ErrorResponsesAutoSchema",
    "EXCEPTION_HANDLER": "food_common.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    # The trusted proxies in front of a service, each appending its peer to X-Forwarded-For; the
    # throttles' client address is the first untrusted hop, the NUM_PROXIES-th from the end.
    # Local and compose: 1 (the gateway); Kubernetes: 2 (ingress controller + gateway); 0: a
    # service reached directly (X-Forwarded-For ignored). Only the gateway may reach a service
    # (Kubernetes: NetworkPolicies), or a caller could write its own X-Forwarded-For.
    "NUM_PROXIES": env_int("NUM_PROXIES", 1),
}

SPECTACULAR_SETTINGS = {
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
}

READY_CHECKS = {
    "database": "food_common.health.check_database",
    "redis": "food_common.health.check_redis",
}
# For the services that publish or consume events.
READY_CHECKS_WITH_BROKER = {**READY_CHECKS, "broker": "food_common.health.check_broker"}


def _repo_dir(service: str) -> Path:
    """Return the folder that holds `<service>_project/` (the repository, or /app in an image)."""
    module = sys.modules.get(f"{service}_config")
    return Path(module.__file__).resolve().parents[2] if module else Path.cwd()


def service_settings(service: str, *, database: str | None) -> dict:
    """Return the settings that differ only by service name: database, logging, static, cookies."""
    values = {
        "SERVICE_NAME": service,
        "ROOT_URLCONF": f"{service}_config.urls",
        "WSGI_APPLICATION": f"{service}_config.wsgi.application",
        "LOGGING": logging_config(
            service, env_str("LOG_LEVEL", "INFO"), env_str("LOG_FORMAT", "json")
        ),
        # Each project's admin is reached through the gateway at /admin/<service>/, with its
        # static files under /static/<service>/ and cookies of its own, so the admins never mix.
        "STATIC_URL": f"/static/{service}/",
        "STATIC_ROOT": env_str("STATIC_ROOT", str(_repo_dir(service) / "var" / "static" / service)),
        "SESSION_COOKIE_NAME": f"{service}_sessionid",
        "CSRF_COOKIE_NAME": f"{service}_csrftoken",
        "SPECTACULAR_SETTINGS": {**SPECTACULAR_SETTINGS, "TITLE": f"Food ordering: {service} API"},
        "CACHES": {"default": {**CACHES["default"], "KEY_PREFIX": service}},
        "CELERY_TASK_DEFAULT_QUEUE": service,
        # The events of every service, their producers, consumers and data (AsyncAPI 3).
        "EVENT_CONTRACT_FILE": env_str("EVENT_CONTRACT_FILE", "")
        or str(_repo_dir(service) / "contracts" / "asyncapi.yaml"),
    }
    if database:
        # DATABASE_URL, else <SERVICE>_DATABASE_URL: one environment for every project (the
        # embedded servers of `make up` / `make test`, bin/embedded.py; compose's migrate).
        url = env_str(
            f"{service.upper()}_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{database}"
        )
        config = dj_database_url.parse(
            env_str("DATABASE_URL", url),
            conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
        config.setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 3)
        config["ENGINE"] = "django_prometheus.db.backends.postgresql"  # query counts and timings
        values["DATABASES"] = {"default": config}
    return values


def beat_entry(task: str, *, queue: str, every: float) -> dict:
    """Return a CELERY_BEAT_SCHEDULE entry that sends `task` to `queue` every `every` seconds.

    A run still waiting when the next is due expires unrun: the next one does the same work.
    """
    return {"task": task, "schedule": every, "options": {"queue": queue, "expires": every}}


def outbox_sweep(queue: str) -> dict:
    """Return the beat entry of the outbox sweep (food.events.relay_outbox) on `queue`.

    A project that publishes events runs it on the queue of its publishing app, every
    EVENT_RELAY_INTERVAL seconds, from its own beat (`bin/beat <project>`).
    """
    return beat_entry("food.events.relay_outbox", queue=queue, every=EVENT_RELAY_INTERVAL)


def outbox_purge(queue: str) -> dict:
    """Return the beat entry of the outbox purge (food.events.purge_outbox) on `queue`, hourly.

    It deletes the sent events that occurred over EVENT_OUTBOX_RETENTION_DAYS ago; a project that
    publishes events runs it beside its outbox sweep.
    """
    return beat_entry("food.events.purge_outbox", queue=queue, every=3600)


def event_signing_settings() -> dict:
    """Return the keys that sign and verify events (food_common.events.signing).

    Only the projects that install food_common.events read them (`globals().update(...)`), so the
    services that neither publish nor consume events, the gateway among them, never hold the key.
    """
    return {
        "EVENT_SIGNING_KEY": env_secret(
            "EVENT_SIGNING_KEY", "local-only-insecure-event-signing-key-change-me-in-production"
        ),
        # The key before a rotation: still accepted, never used to sign.
        "EVENT_SIGNING_KEY_PREVIOUS": env_str("EVENT_SIGNING_KEY_PREVIOUS", ""),
    }


def live_updates_settings() -> dict:
    """Return the channel layer that carries live updates to WebSockets (food_common.live).

    Read by the live-updates server and by the services that push to it. Redis pub/sub: a
    message reaches the WebSockets open at that moment, and nothing is kept for the others
    (they catch up from what the pushing service stored when they reconnect). The channels'
    names carry LIVE_CHANNEL_PREFIX, since pub/sub ignores Redis database numbers: two
    deployments (or test runs) on one Redis server need different prefixes.
    """
    return {
        "CHANNEL_LAYERS": {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {
                    "hosts": [
                        {
                            "address": env_str("LIVE_REDIS_URL", "") or REDIS_URL,
                            "socket_connect_timeout": env_float("REDIS_CONNECT_TIMEOUT", 0.5),
                        }
                    ],
                    "prefix": env_str("LIVE_CHANNEL_PREFIX", "food-live"),
                },
            }
        },
    }

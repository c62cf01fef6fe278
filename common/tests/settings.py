"""Settings of food_common's own tests: the shared base, a test database, test views and handlers."""

from pathlib import Path

import dj_database_url

from food_common.env import env_int, env_str
from food_common.logging import logging_config
from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import CACHES, INSTALLED_APPS, event_signing_settings

SERVICE_NAME = "common"
ROOT_URLCONF = "tests.urls"

DATABASES = {
    "default": dj_database_url.parse(
        env_str(
            "DATABASE_URL",
            # bin/embedded.py's private server, when `make test` runs one
            env_str("COMMON_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/food_common_tests"),
        )
    )
}
DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = env_int("DB_CONNECT_TIMEOUT", 3)

LOGGING = logging_config("common", env_str("LOG_LEVEL", "INFO"))

INSTALLED_APPS = [*INSTALLED_APPS, "food_common.events", "tests"]
globals().update(event_signing_settings())
# The tests' own events: "common" produces them, the tests app's queue "test-q" consumes one.
EVENT_CONTRACT_FILE = str(Path(__file__).with_name("contract.yaml"))

# Keys of their own in the shared Redis, so these tests never touch a service's cache entries.
CACHES = {"default": {**CACHES["default"], "KEY_PREFIX": "common-tests"}}
STATIC_URL = "/static/common/"
SESSION_COOKIE_NAME = "common_sessionid"
CSRF_COOKIE_NAME = "common_csrftoken"
# Anything sent without an explicit queue would land here (no test should): easy to spot.
CELERY_TASK_DEFAULT_QUEUE = "common-tests"

"""Settings of the orders service: orders, their state machine, and the notifications app."""

from food_common.env import env_bool, env_int, env_list, env_str
from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import (
    INSTALLED_APPS,
    READY_CHECKS_WITH_BROKER,
    beat_entry,
    event_signing_settings,
    outbox_sweep,
    service_settings,
)

globals().update(service_settings("orders", database="food_orders"))
globals().update(event_signing_settings())  # it publishes and consumes events

INSTALLED_APPS = [*INSTALLED_APPS, "food_common.events", "orders", "notifications"]

READY_CHECKS = READY_CHECKS_WITH_BROKER

# What this project's beat (`bin/beat orders`) sends to its workers: the outbox sweep to the queue
# of the app that publishes events, and the notifications left unsent back to their queue.
CELERY_BEAT_SCHEDULE = {
    "relay-outbox-orders": outbox_sweep("orders"),
    "notifications-requeue-stale": beat_entry(
        "notifications.requeue_stale", queue="notifications", every=60.0
    ),
}

# The catalog prices orders (one HTTP call per order placement).
CATALOG_SERVICE_URLS = env_list("CATALOG_SERVICE_URLS", "http://127.0.0.1:4002")

# Notifications go out through Django's email backend: the console locally, a file in tests, SMTP
# in production (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST...).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", "var/mail")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "orders@food.example")

SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,  # noqa: F405
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.OrderStatus",
        "KitchenStatusEnum": "orders.serializers.KITCHEN_STATUS_CHOICES",
    },
}

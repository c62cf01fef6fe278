"""Settings of the orders service: orders, their state machine, and the notifications app."""

from pathlib import Path

from food_common.env import env_bool, env_int, env_list, env_str
from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import (
    INSTALLED_APPS,
    READY_CHECKS_WITH_BROKER,
    beat_entry,
    event_signing_settings,
    live_updates_settings,
    outbox_purge,
    outbox_sweep,
    service_settings,
)

globals().update(service_settings("orders", database="food_orders"))
globals().update(event_signing_settings())  # it publishes and consumes events
# Notifications are pushed to their recipients' WebSockets, served by this project's ASGI
# application (orders_config/asgi.py, the `live` process: bin/serve live).
globals().update(live_updates_settings())
ASGI_APPLICATION = "orders_config.asgi.application"

INSTALLED_APPS = [*INSTALLED_APPS, "food_common.events", "orders", "notifications"]

READY_CHECKS = READY_CHECKS_WITH_BROKER

# What this project's beat (`bin/beat orders`) sends to its workers: the outbox sweep and purge to
# the queue of the app that publishes events, and the notifications left unsent back to their queue.
CELERY_BEAT_SCHEDULE = {
    "relay-outbox-orders": outbox_sweep("orders"),
    "purge-outbox-orders": outbox_purge("orders"),
    "notifications-requeue-stale": beat_entry(
        "notifications.requeue_stale", queue="notifications", every=60.0
    ),
}

# The catalog prices orders (one HTTP call per order placement).
CATALOG_SERVICE_URLS = env_list("CATALOG_SERVICE_URLS", "http://127.0.0.1:4002")
# An order's trail (orders.trail) asks payments and delivery for their parts, and an order's
# detail asks delivery where its rider is (an empty list: that service is not deployed; the trail
# says its part is missing).
PAYMENTS_SERVICE_URLS = env_list("PAYMENTS_SERVICE_URLS", "http://127.0.0.1:4004")
DELIVERY_SERVICE_URLS = env_list("DELIVERY_SERVICE_URLS", "http://127.0.0.1:4005")

# Notifications go out through Django's email backend: locally one file per message in var/mail/
# of the repository (`cat var/mail/*`), SMTP in production
# (EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST...).
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", "") or str(
    Path(__file__).resolve().parents[2] / "var" / "mail"
)
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

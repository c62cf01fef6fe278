"""Settings of the orders service: orders, their state machine, and the notifications app."""

from food_common.env import env_bool, env_int, env_list, env_str
from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import (
    INSTALLED_APPS,
    READY_CHECKS_WITH_BROKER,
    event_signing_settings,
    service_settings,
)

globals().update(service_settings("orders", database="food_orders"))
globals().update(event_signing_settings())  # it publishes and consumes events

INSTALLED_APPS = [*INSTALLED_APPS, "food_common.events", "orders", "notifications"]

READY_CHECKS = READY_CHECKS_WITH_BROKER

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

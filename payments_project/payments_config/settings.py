"""Settings of the payments service: payments, refunds and the mock payment provider."""

from food_common.env import env_float, env_int, env_list, env_str
from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import INSTALLED_APPS, READY_CHECKS_WITH_BROKER, service_settings

globals().update(service_settings("payments", database="food_payments"))

INSTALLED_APPS = [*INSTALLED_APPS, "food_common.events", "payments"]

READY_CHECKS = READY_CHECKS_WITH_BROKER

# The payment provider (payments.provider): a dotted path to a class with charge() and refund().
PAYMENT_PROVIDER = env_str("PAYMENT_PROVIDER", "payments.provider.MockProvider")
# Seconds to wait for the provider before the payment is marked FAILED ("provider_timeout").
PAYMENT_PROVIDER_TIMEOUT = env_float("PAYMENT_PROVIDER_TIMEOUT", 3.0)
# Extra time the mock provider takes for every call (a latency at or above the timeout times out).
MOCK_PROVIDER_LATENCY_MS = env_int("MOCK_PROVIDER_LATENCY_MS", 0)

# The orders service: the amount to charge comes from the order (payments.clients).
ORDERS_SERVICE_URLS = env_list("ORDERS_SERVICE_URLS", "http://127.0.0.1:4003")

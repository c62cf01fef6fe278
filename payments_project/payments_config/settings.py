"""Settings of the payments service: payments, refunds and the mock payment provider."""

from django.core.exceptions import ImproperlyConfigured

from food_common.env import env_float, env_int, env_list, env_str
from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import (
    INSTALLED_APPS,
    READY_CHECKS_WITH_BROKER,
    beat_entry,
    event_signing_settings,
    outbox_purge,
    outbox_sweep,
    service_settings,
)

globals().update(service_settings("payments", database="food_payments"))
globals().update(event_signing_settings())  # it publishes and consumes events

INSTALLED_APPS = [*INSTALLED_APPS, "food_common.events", "payments"]

READY_CHECKS = READY_CHECKS_WITH_BROKER

# What this project's beat (`bin/beat payments`) sends to its worker: the outbox sweep and purge,
# payments left PENDING marked abandoned, and the old Idempotency-Key answers deleted.
CELERY_BEAT_SCHEDULE = {
    "relay-outbox-payments": outbox_sweep("payments"),
    "purge-outbox-payments": outbox_purge("payments"),
    "payments-expire-stale-pending": beat_entry(
        "payments.expire_stale_pending", queue="payments", every=60.0
    ),
    "payments-purge-idempotency-records": beat_entry(
        "payments.purge_idempotency_records", queue="payments", every=3600.0
    ),
}

# The payment provider (payments.provider): a dotted path to a class with charge() and refund().
PAYMENT_PROVIDER = env_str("PAYMENT_PROVIDER", "payments.provider.MockProvider")
# Seconds to wait for the provider before the payment is marked FAILED ("provider_timeout").
PAYMENT_PROVIDER_TIMEOUT = env_float("PAYMENT_PROVIDER_TIMEOUT", 3.0)
# Extra time the mock provider takes for every call (a latency at or above the timeout times out).
MOCK_PROVIDER_LATENCY_MS = env_int("MOCK_PROVIDER_LATENCY_MS", 0)
# Declined payments an order may have; past them, POST /payments answers 409
# too_many_payment_attempts for that order (card testing).
PAYMENT_MAX_FAILED_ATTEMPTS = env_int("PAYMENT_MAX_FAILED_ATTEMPTS", 5)
if PAYMENT_MAX_FAILED_ATTEMPTS < 1:
    raise ImproperlyConfigured(
        f"PAYMENT_MAX_FAILED_ATTEMPTS={PAYMENT_MAX_FAILED_ATTEMPTS} must be at least 1"
    )

# The orders service: the amount to charge comes from the order (payments.clients).
ORDERS_SERVICE_URLS = env_list("ORDERS_SERVICE_URLS", "http://127.0.0.1:4003")

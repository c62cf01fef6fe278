"""Settings of the payments service: payments, refunds and the mock payment provider."""

from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import INSTALLED_APPS, READY_CHECKS_WITH_BROKER, service_settings

globals().update(service_settings("payments", database="food_payments"))

INSTALLED_APPS = [*INSTALLED_APPS, "food_common.events", "payments"]

READY_CHECKS = READY_CHECKS_WITH_BROKER

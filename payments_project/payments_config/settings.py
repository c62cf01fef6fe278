"""Settings of the payments service: payments, refunds and the mock payment provider."""

from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import INSTALLED_APPS, service_settings

globals().update(service_settings("payments", database="food_payments"))

INSTALLED_APPS = [*INSTALLED_APPS, "payments"]

"""Settings of the orders service: orders, their state machine, and the notifications app."""

from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import INSTALLED_APPS, READY_CHECKS_WITH_BROKER, service_settings

globals().update(service_settings("orders", database="food_orders"))

INSTALLED_APPS = [*INSTALLED_APPS, "food_common.events", "orders", "notifications"]

READY_CHECKS = READY_CHECKS_WITH_BROKER

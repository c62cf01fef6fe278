"""Settings of the orders service: orders, their state machine, and the notifications app."""

from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import INSTALLED_APPS, service_settings

globals().update(service_settings("orders", database="food_orders"))

INSTALLED_APPS = [*INSTALLED_APPS, "orders", "notifications"]

"""Settings of the catalog service: restaurants, menus and the cached restaurant list."""

from food_common.env import env_bool
from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import INSTALLED_APPS, service_settings

globals().update(service_settings("catalog", database="food_catalog"))

INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.postgres", "catalog"]

# Reads of the restaurant list and details go through the Redis cache; 0 turns it off (benchmarks).
CATALOG_CACHE_ENABLED = env_bool("CATALOG_CACHE_ENABLED", True)

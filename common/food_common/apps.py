"""Django app config for food_common (management commands, OpenAPI extensions)."""

from django.apps import AppConfig


class FoodCommonConfig(AppConfig):
    name = "food_common"
    verbose_name = "Food common"

    def ready(self):
        from food_common import schema  # noqa: F401 - registers the OpenAPI auth extension

"""Django app config for food_common (it provides the `preflight` management command)."""

from django.apps import AppConfig


class FoodCommonConfig(AppConfig):
    name = "food_common"
    verbose_name = "Food common"

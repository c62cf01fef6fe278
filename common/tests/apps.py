from django.apps import AppConfig


class TestsConfig(AppConfig):
    name = "tests"
    label = "tests"
    event_queue = "test-q"  # its handlers (tests.handlers) run on this queue
    default_auto_field = "django.db.models.BigAutoField"

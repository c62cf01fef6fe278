from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import autodiscover_modules


class EventsConfig(AppConfig):
    name = "food_common.events"
    label = "events"
    verbose_name = "Events (outbox, inbox, dead letters)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        if not getattr(settings, "EVENT_SIGNING_KEY", ""):
            raise ImproperlyConfigured(
                "food_common.events needs EVENT_SIGNING_KEY: add "
                "`globals().update(event_signing_settings())` to the project's settings"
            )
        # Every app's `handlers` module registers its event handlers with @handles(...); the
        # system check compares them with the contract.
        autodiscover_modules("handlers")
        from food_common.events import checks  # noqa: F401 - registers the check
        from food_common.events.metrics import EventsCollector
        from food_common.events.queues import local_queues
        from food_common.metrics import QueueLengthCollector, register_once

        register_once(EventsCollector())
        register_once(QueueLengthCollector(local_queues))

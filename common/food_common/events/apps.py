from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class EventsConfig(AppConfig):
    name = "food_common.events"
    label = "events"
    verbose_name = "Events (outbox, inbox, dead letters)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Every app's `handlers` module registers its event handlers with @handles(...).
        autodiscover_modules("handlers")
        from food_common.metrics import EventsCollector, QueueLengthCollector, register_once

        register_once(EventsCollector())
        register_once(QueueLengthCollector())

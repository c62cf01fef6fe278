from django.apps import AppConfig
from django.db.models import Count


class DeliveryConfig(AppConfig):
    name = "delivery"
    event_queue = "delivery"  # its worker runs this app's event handlers and tasks

    def ready(self):
        from delivery.metrics import RidersAvailableCollector, TimeToAssignCollector
        from food_common.metrics import domain_collector, register_once

        def by_status():
            from delivery.models import Delivery

            for row in Delivery.objects.values("status").annotate(n=Count("id")):
                yield row["status"], row["n"]

        register_once(
            domain_collector("food_deliveries", "Deliveries by status", "status", by_status)
        )
        register_once(RidersAvailableCollector())
        register_once(TimeToAssignCollector())

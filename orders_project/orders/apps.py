from django.apps import AppConfig
from django.db.models import Count


class OrdersConfig(AppConfig):
    name = "orders"
    event_queue = "orders"  # its worker runs this app's event handlers and tasks

    def ready(self):
        from food_common.metrics import domain_collector, register_once

        def by_status():
            from orders.models import Order

            for row in Order.objects.values("status").annotate(n=Count("id")):
                yield row["status"], row["n"]

        register_once(domain_collector("food_orders", "Orders by status", "status", by_status))

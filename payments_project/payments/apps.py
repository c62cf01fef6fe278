from django.apps import AppConfig
from django.db.models import Count


class PaymentsConfig(AppConfig):
    name = "payments"
    event_queue = "payments"  # its worker runs this app's event handlers and tasks

    def ready(self):
        from food_common.metrics import domain_collector, register_once

        def by_status():
            from payments.models import Payment

            for row in Payment.objects.values("status").annotate(n=Count("id")):
                yield row["status"], row["n"]

        register_once(domain_collector("food_payments", "Payments by status", "status", by_status))

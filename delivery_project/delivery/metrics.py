"""Figures of the delivery service, read at scrape time: riders available and time to assign.

(Deliveries by status is a `food_common.metrics.domain_collector`, registered in apps.py.)
"""

import logging
from collections.abc import Iterable

from django.db.models import Count, DurationField, ExpressionWrapper, F, Sum
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)


class RidersAvailableCollector(Collector):
    """Riders who can be offered a delivery now (the Redis available set)."""

    def describe(self) -> Iterable:
        yield GaugeMetricFamily("food_delivery_riders_available", "")

    def collect(self) -> Iterable:
        from delivery import positions

        gauge = GaugeMetricFamily(
            "food_delivery_riders_available",
            "Riders verified, available and free, with a position (some may be stale)",
        )
        try:
            gauge.add_metric([], positions.riders_available_count())
        except positions.REDIS_ERRORS as exc:
            logger.warning("riders available unavailable: %s", exc)
        yield gauge


class TimeToAssignCollector(Collector):
    """Seconds from opening to assignment, over every delivery ever assigned."""

    def describe(self) -> Iterable:
        yield SummaryMetricFamily("food_delivery_time_to_assign_seconds", "")

    def collect(self) -> Iterable:
        from delivery.models import Delivery

        try:
            waited = ExpressionWrapper(F("assigned_at") - F("created_at"), DurationField())
            row = Delivery.objects.filter(assigned_at__isnull=False).aggregate(
                n=Count("id"), total=Sum(waited)
            )
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when a store is away
            logger.warning("time to assign unavailable: %s", exc)
            return
        yield SummaryMetricFamily(
            "food_delivery_time_to_assign_seconds",
            "Seconds from a delivery's opening to its assignment",
            count_value=row["n"],
            sum_value=row["total"].total_seconds() if row["total"] else 0.0,
        )

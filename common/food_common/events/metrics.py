"""Prometheus figures of the event bus, read at scrape time from where they already live.

Events published (outbox rows), waiting in the outbox, handled (inbox rows), dead-lettered (a
handler gave up), rejected (dead letters of envelopes not signed by their producer), and retried
(a Redis counter the event task bumps), by event type; the types are the contract's.
"""

import logging
from collections.abc import Iterable

from django.core.cache import cache
from django.db.models import Count
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

RETRIED_KEY = "events:retried:{}"


def count_retry(event_type: str) -> None:
    """Add one to the retries of `event_type` (never raises: a metric must not fail a task)."""
    key = RETRIED_KEY.format(event_type)
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception as exc:  # noqa: BLE001
        logger.warning("could not count a retry of %s: %s", event_type, exc)


class EventsCollector(Collector):
    """Events published, waiting, handled, retried and dead-lettered, by type."""

    def describe(self) -> Iterable:
        # Names only, so registering reads nothing (no database access while apps load).
        yield CounterMetricFamily("food_events_published", "")
        yield GaugeMetricFamily("food_events_outbox_waiting", "")
        yield CounterMetricFamily("food_events_handled", "")
        yield CounterMetricFamily("food_events_dead_lettered", "")
        yield CounterMetricFamily("food_events_retried", "")
        yield CounterMetricFamily("food_events_rejected", "")

    def collect(self) -> Iterable:
        from food_common.events.contract import get_contract
        from food_common.events.models import REJECTED, DeadLetter, InboxEntry, OutboxEvent

        published = CounterMetricFamily(
            "food_events_published", "Events written to the outbox", labels=["type"]
        )
        waiting = GaugeMetricFamily(
            "food_events_outbox_waiting",
            "Outbox events the broker has not taken yet",
            labels=["type"],
        )
        handled = CounterMetricFamily(
            "food_events_handled", "Events handled, per handler", labels=["type", "handler"]
        )
        dead = CounterMetricFamily(
            "food_events_dead_lettered", "Events given up on", labels=["type"]
        )
        retried = CounterMetricFamily("food_events_retried", "Event task retries", labels=["type"])
        rejected = CounterMetricFamily(
            "food_events_rejected",
            "Envelopes rejected as not signed by their producer (type: other if unknown)",
            labels=["type"],
        )
        try:
            event_types = list(get_contract().events)
            for row in OutboxEvent.objects.values("type").annotate(n=Count("id")):
                published.add_metric([row["type"]], row["n"])
            for row in (
                OutboxEvent.objects.filter(sent_at__isnull=True)
                .values("type")
                .annotate(n=Count("id"))
            ):
                waiting.add_metric([row["type"]], row["n"])
            for row in InboxEntry.objects.values("event_type", "handler").annotate(n=Count("id")):
                handled.add_metric([row["event_type"], row["handler"]], row["n"])
            letters = DeadLetter.objects.values("event_type").annotate(n=Count("id"))
            for row in letters.exclude(handler=REJECTED):
                dead.add_metric([row["event_type"]], row["n"])
            # Whoever forged an envelope chose its type: unknown types are counted as one.
            by_type = dict.fromkeys(event_types, 0)
            for row in letters.filter(handler=REJECTED):
                known = row["event_type"] if row["event_type"] in by_type else "other"
                by_type[known] = by_type.get(known, 0) + row["n"]
            for event_type, count in by_type.items():
                rejected.add_metric([event_type], count)
            keys = {RETRIED_KEY.format(t): t for t in event_types}
            for key, value in cache.get_many(list(keys)).items():
                retried.add_metric([keys[key]], value)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when a store is away
            logger.warning("events metrics unavailable: %s", exc)
        yield from (published, waiting, handled, dead, retried, rejected)

"""Prometheus figures an operator watches, read at scrape time from where they already live.

Counting in the processes that do the work would split the figures between web and worker
processes (and lose them at every restart); the database and Redis already hold them, so a
collector reads them when `/metrics` is scraped: events published (outbox rows), waiting in the
outbox, handled (inbox rows), dead-lettered (a handler gave up), rejected (dead letters of
envelopes not signed by their producer), and retried (a Redis counter the event task bumps), plus
the Celery queue lengths. Services add their own domain collectors (`domain_collector`).
"""

import logging
from collections.abc import Callable, Iterable

import redis
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

QUEUES = ("orders", "notifications", "payments")
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
        from food_common.events.models import REJECTED, DeadLetter, InboxEntry, OutboxEvent
        from food_common.events.routing import SUBSCRIBERS

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
            by_type = dict.fromkeys(SUBSCRIBERS, 0)
            for row in letters.filter(handler=REJECTED):
                known = row["event_type"] if row["event_type"] in SUBSCRIBERS else "other"
                by_type[known] = by_type.get(known, 0) + row["n"]
            for event_type, count in by_type.items():
                rejected.add_metric([event_type], count)
            keys = {RETRIED_KEY.format(t): t for t in SUBSCRIBERS}
            for key, value in cache.get_many(list(keys)).items():
                retried.add_metric([keys[key]], value)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even when a store is away
            logger.warning("events metrics unavailable: %s", exc)
        yield from (published, waiting, handled, dead, retried, rejected)


class QueueLengthCollector(Collector):
    """Messages waiting in each Celery queue (Redis list lengths on the broker)."""

    def describe(self) -> Iterable:
        yield GaugeMetricFamily("food_celery_queue_length", "")

    def collect(self) -> Iterable:
        lengths = GaugeMetricFamily(
            "food_celery_queue_length", "Messages waiting in a queue", labels=["queue"]
        )
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=0.5, socket_timeout=0.5
        )
        try:
            for queue in QUEUES:
                lengths.add_metric([queue], client.llen(queue))
        except redis.RedisError as exc:
            logger.warning("queue lengths unavailable: %s", exc)
        finally:
            client.close()
        yield lengths


def domain_collector(
    name: str, documentation: str, label: str, counts: Callable[[], Iterable[tuple[str, int]]]
):
    """Return a collector of one gauge family `name`{`label`} from `counts()` (e.g. orders by status)."""

    class DomainCollector(Collector):
        def describe(self) -> Iterable:
            yield GaugeMetricFamily(name, documentation)

        def collect(self) -> Iterable:
            family = GaugeMetricFamily(name, documentation, labels=[label])
            try:
                for value, count in counts():
                    family.add_metric([value], count)
            except Exception as exc:  # noqa: BLE001
                logger.warning("%s unavailable: %s", name, exc)
            yield family

    return DomainCollector()


def register_once(collector: Collector) -> None:
    """Register a collector; a second registration of the same metric names is ignored."""
    try:
        REGISTRY.register(collector)
    except ValueError:
        pass  # already registered (an app config loaded twice, e.g. in tests)

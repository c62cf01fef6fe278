"""Prometheus figures an operator watches, read at scrape time from where they already live.

Counting in the processes that do the work would split the figures between web and worker
processes (and lose them at every restart); the database and Redis already hold them, so a
collector reads them when `/metrics` is scraped: the Celery queue lengths here, the event bus's
figures in `food_common.events.metrics`. Services add their own domain collectors
(`domain_collector`).
"""

import logging
from collections.abc import Callable, Iterable

import redis
from django.conf import settings
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)


class QueueLengthCollector(Collector):
    """Messages waiting in each of a project's Celery queues (Redis list lengths on the broker).

    `queues()` names them at scrape time: the events app passes
    `food_common.events.queues.local_queues`, the queues its project's apps declare.
    """

    def __init__(self, queues: Callable[[], Iterable[str]]):
        self.queues = queues

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
            for queue in self.queues():
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

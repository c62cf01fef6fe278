"""The Celery queue lengths a project reports: its own queues, read from the broker at scrape time."""

import uuid

from django.apps import apps
from prometheus_client import REGISTRY

from food_common.events.queues import local_queues
from food_common.metrics import QueueLengthCollector


def lengths(collector: QueueLengthCollector) -> dict[str, float]:
    (family,) = collector.collect()
    return {sample.labels["queue"]: sample.value for sample in family.samples}


def test_the_length_of_each_queue_is_read_from_the_broker(broker_redis):
    waiting, empty = f"test-{uuid.uuid4().hex}", f"test-{uuid.uuid4().hex}"
    broker_redis.rpush(waiting, "m1", "m2")
    try:
        assert lengths(QueueLengthCollector(lambda: (waiting, empty))) == {waiting: 2, empty: 0}
    finally:
        broker_redis.delete(waiting)


def test_the_registered_collector_reports_the_queues_the_projects_apps_declare(monkeypatch):
    (collector,) = [c for c in REGISTRY._collector_to_names if isinstance(c, QueueLengthCollector)]
    assert set(lengths(collector)) == {"test-q"} == set(local_queues())  # tests.apps
    # A queue another app declares is reported from then on, with no list to update.
    monkeypatch.setattr(apps.get_app_config("sessions"), "event_queue", "test-more", raising=False)
    assert set(lengths(collector)) == {"test-q", "test-more"}

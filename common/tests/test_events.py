"""The event bus: transactional outbox, relay and sweep, idempotent handlers, retries, dead letters."""

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from food_common.events import bus
from food_common.events.bus import Event, dispatch, publish, relay_pending
from food_common.events.models import DeadLetter, InboxEntry, OutboxEvent
from food_common.events.tasks import handle_event, relay_outbox, retry_delay
from tests.conftest import closed_port
from tests.models import HandledNote

HANDLER = "tests.handlers.remember"


def envelope_of(text="hello", request_id="evt-req-1") -> dict:
    event = OutboxEvent(
        type="test.happened", producer="orders", request_id=request_id, data={"text": text}
    )
    return event.envelope()


def queued_messages(broker_redis, queue) -> list[dict]:
    """Return the Celery messages waiting in `queue`, bodies decoded: [{"args", "headers"}...]."""
    messages = []
    for raw in broker_redis.lrange(queue, 0, -1):
        message = json.loads(raw)
        assert message["properties"]["body_encoding"] == "base64"
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        messages.append({"args": args, "kwargs": kwargs, "headers": message["headers"]})
    return messages


# -- publishing ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_publish_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        publish("test.happened", {"text": "x"})
    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_rolled_back_change_has_no_event_and_sends_nothing(test_queue, broker_redis):
    class Refused(Exception):
        pass

    with pytest.raises(Refused), transaction.atomic():
        publish("test.happened", {"text": "never"})
        raise Refused
    # Rolled back to a savepoint, inside a transaction that commits: no event either.
    with transaction.atomic():
        with pytest.raises(Refused), transaction.atomic():
            publish("test.happened", {"text": "never either"})
            raise Refused
        kept = publish("nobody.listens", {"text": "kept"})
    assert list(OutboxEvent.objects.values_list("id", flat=True)) == [kept.id]
    assert broker_redis.llen(test_queue) == 0


@pytest.mark.django_db(transaction=True)
def test_committed_event_is_sent_at_once(client, test_queue, broker_redis):
    reply = client.post(
        "/test/publish", {"text": "hi"}, content_type="application/json", HTTP_X_REQUEST_ID="p-1"
    )
    assert reply.status_code == 201
    event = OutboxEvent.objects.get()
    assert str(event.id) == reply.json()["id"]
    assert (event.type, event.producer, event.request_id) == ("test.happened", "common", "p-1")
    assert event.sent_at is not None
    assert (event.send_attempts, event.last_error) == (1, "")
    (message,) = queued_messages(broker_redis, test_queue)
    envelope, queue = message["args"]
    assert envelope == event.envelope()
    assert queue == test_queue
    assert message["headers"]["task"] == "food.events.handle"
    assert message["headers"]["request_id"] == "p-1"


@pytest.mark.django_db(transaction=True)
def test_event_waits_in_the_outbox_while_the_broker_is_down_then_the_sweep_sends_it(
    client, use_broker, broker_proxy, test_queue, broker_redis
):
    use_broker(broker_proxy.url)  # nothing listens there yet: the broker is down
    reply = client.post(
        "/test/publish", {"text": "later"}, content_type="application/json", HTTP_X_REQUEST_ID="p-2"
    )
    assert reply.status_code == 201  # the request did not fail with the broker
    event = OutboxEvent.objects.get()
    assert event.sent_at is None
    assert event.send_attempts == 1
    assert "Connection refused" in event.last_error

    broker_proxy.start()  # the broker is back (same URL, same app)
    assert relay_pending(older_than_seconds=0) == 1
    event.refresh_from_db()
    assert event.sent_at is not None
    assert (event.send_attempts, event.last_error) == (2, "")
    (message,) = queued_messages(broker_redis, test_queue)
    assert message["args"][0]["id"] == str(event.id)
    assert message["args"][0]["data"] == {"text": "later"}
    assert message["args"][0]["request_id"] == "p-2"
    assert relay_pending(older_than_seconds=0) == 0  # sent once, not again


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_does_not_slow_the_request_down(
    client, use_broker, settings, test_queue
):
    use_broker(
        f"redis://127.0.0.1:{closed_port()}/0",
        connection_timeout=settings.CELERY_BROKER_CONNECTION_TIMEOUT,
    )
    started = time.monotonic()
    reply = client.post("/test/publish", {}, content_type="application/json")
    assert reply.status_code == 201
    event = OutboxEvent.objects.get()
    assert (event.sent_at, event.send_attempts) == (None, 1)
    assert time.monotonic() - started < 1.0


@pytest.mark.django_db
def test_sweep_sends_only_old_enough_pending_events_oldest_first(test_queue, broker_redis):
    now = timezone.now()
    newest = OutboxEvent.objects.create(type="test.happened", producer="t", data={"n": 0})
    old = OutboxEvent.objects.create(
        type="test.happened", producer="t", data={"n": 1}, occurred_at=now - timedelta(seconds=5)
    )
    older = OutboxEvent.objects.create(
        type="test.happened", producer="t", data={"n": 2}, occurred_at=now - timedelta(seconds=9)
    )
    OutboxEvent.objects.create(
        type="test.happened",
        producer="t",
        data={"n": 3},
        occurred_at=now - timedelta(seconds=9),
        sent_at=now,
    )
    assert relay_outbox() == 2  # the periodic task: events older than 2 s
    sent = [m["args"][0]["id"] for m in queued_messages(broker_redis, test_queue)]
    # LPUSH on the Redis transport: the first message sent is the last of the list.
    assert sent == [str(old.id), str(older.id)]
    newest.refresh_from_db()
    assert newest.sent_at is None and newest.send_attempts == 0


@pytest.mark.django_db
def test_sweep_stops_at_the_first_refusal(use_broker, test_queue):
    use_broker(f"redis://127.0.0.1:{closed_port()}/0")
    old = timezone.now() - timedelta(seconds=10)
    first = OutboxEvent.objects.create(type="test.happened", producer="t", data={}, occurred_at=old)
    second = OutboxEvent.objects.create(
        type="test.happened", producer="t", data={}, occurred_at=old + timedelta(seconds=1)
    )
    assert relay_pending() == 0
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.send_attempts == 1 and first.last_error
    assert second.send_attempts == 0  # not tried: the broker is away


@pytest.mark.django_db
def test_event_without_subscribers_counts_as_sent():
    event = OutboxEvent.objects.create(type="nobody.listens", producer="t", data={})
    assert bus.relay(event)
    event.refresh_from_db()
    assert event.sent_at is not None


@pytest.mark.django_db(transaction=True)
def test_the_event_sent_at_commit_is_the_stored_one(test_queue, broker_redis):
    data = {
        "amount": Decimal("12.50"),
        "paid_at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "order": uuid.UUID(int=5),
    }
    with transaction.atomic():
        publish("test.happened", data)
    (message,) = queued_messages(broker_redis, test_queue)
    assert message["args"][0] == OutboxEvent.objects.get().envelope()


@pytest.mark.django_db
def test_envelope_round_trips_and_encodes_decimals():
    with transaction.atomic():
        event = publish("nobody.listens", {"amount": Decimal("12.50")}, version=2)
    event.refresh_from_db()
    envelope = json.loads(json.dumps(event.envelope()))
    assert envelope["data"] == {"amount": "12.50"}
    parsed = Event.from_envelope(envelope)
    assert parsed.id == str(event.id)
    assert parsed.version == 2
    assert parsed.occurred_at == event.occurred_at
    assert parsed.producer == "common"


# -- consuming -------------------------------------------------------------------------------


def test_the_test_handler_is_registered_by_autodiscovery():
    assert [h.name for h in bus.handlers_for("test.happened", "test-q")] == [HANDLER]
    assert bus.handlers_for("test.happened", "elsewhere") == []


@pytest.mark.django_db
def test_a_handler_runs_once_per_event_even_if_delivered_twice(handler_state):
    envelope = envelope_of()
    assert dispatch(envelope, "test-q") == []
    assert dispatch(envelope, "test-q") == []
    assert handler_state.CALLS == [(envelope["id"], "-")]
    assert HandledNote.objects.filter(event_id=envelope["id"]).count() == 1
    entry = InboxEntry.objects.get()
    assert (str(entry.event_id), entry.handler, entry.event_type) == (
        envelope["id"],
        HANDLER,
        "test.happened",
    )
    # Another event is another story.
    assert dispatch(envelope_of("second"), "test-q") == []
    assert len(handler_state.CALLS) == 2


@pytest.mark.django_db
def test_a_failing_handler_rolls_back_its_writes_and_its_inbox_entry(handler_state):
    envelope = envelope_of()
    handler_state.BROKEN["on"] = True
    failures = dispatch(envelope, "test-q")
    assert failures == [(HANDLER, f"RuntimeError: handler is broken (event {envelope['id']})")]
    assert HandledNote.objects.count() == 0
    assert InboxEntry.objects.count() == 0

    handler_state.BROKEN["on"] = False  # fixed: the retry runs it again
    assert dispatch(envelope, "test-q") == []
    assert len(handler_state.CALLS) == 2
    assert HandledNote.objects.count() == 1
    assert InboxEntry.objects.count() == 1


@pytest.mark.django_db
def test_a_handler_breaking_its_own_constraint_fails_and_is_not_taken_for_a_repeat(handler_state):
    envelope = envelope_of()
    handler_state.BROKEN["duplicate_note"] = True
    failures = dispatch(envelope, "test-q")
    assert [(name, error.split(":")[0]) for name, error in failures] == [
        (HANDLER, "IntegrityError")
    ]
    assert "tests_note_once" in failures[0][1]
    assert HandledNote.objects.count() == 0
    assert InboxEntry.objects.count() == 0

    handler_state.BROKEN["duplicate_note"] = False
    assert dispatch(envelope, "test-q") == []
    assert InboxEntry.objects.count() == 1


@pytest.mark.django_db
def test_dispatch_to_one_handler_only(handler_state):
    assert dispatch(envelope_of(), "test-q", only_handler="tests.handlers.other") == []
    assert handler_state.CALLS == []
    assert dispatch(envelope_of(), "test-q", only_handler=HANDLER) == []
    assert len(handler_state.CALLS) == 1


@pytest.mark.django_db
def test_handle_event_sets_the_events_request_id(handler_state, eager):
    envelope = envelope_of(request_id="from-producer")
    handle_event.apply_async(args=[envelope, "test-q"])
    assert handler_state.CALLS == [(envelope["id"], "from-producer")]
    assert DeadLetter.objects.count() == 0


@pytest.fixture
def quick_retries(settings):
    settings.EVENT_MAX_RETRIES = 2
    settings.EVENT_RETRY_BASE_SECONDS = 0


@pytest.mark.django_db
def test_a_handler_that_keeps_failing_is_dead_lettered_once(handler_state, eager, quick_retries):
    handler_state.BROKEN["on"] = True
    envelope = envelope_of()
    handle_event.apply_async(args=[envelope, "test-q"])
    assert len(handler_state.CALLS) == 3  # the first try and two retries
    letter = DeadLetter.objects.get()
    assert letter.attempts == 3
    assert (str(letter.event_id), letter.event_type) == (envelope["id"], "test.happened")
    assert (letter.handler, letter.queue) == (HANDLER, "test-q")
    assert letter.error == f"RuntimeError: handler is broken (event {envelope['id']})"
    assert letter.envelope == envelope
    assert letter.replayed_at is None
    assert InboxEntry.objects.count() == 0 and HandledNote.objects.count() == 0


@pytest.fixture
def admin_client(client, django_user_model):
    admin = django_user_model.objects.create_superuser("events-admin", "a@example.com", "pw")
    client.force_login(admin)
    return client


def dead_letter_for(queue, handler_state) -> DeadLetter:
    """Make a handler fail on `queue` until it is dead-lettered, then "fix" it."""
    handler_state.BROKEN["on"] = True
    handle_event.apply_async(args=[envelope_of(), queue])
    handler_state.BROKEN["on"] = False
    return DeadLetter.objects.get()


@pytest.mark.django_db
def test_admin_replay_sends_the_dead_letter_back_to_its_handler(
    admin_client, handler_state, eager, quick_retries, test_queue, broker_redis, monkeypatch
):
    # The test handler also listens on this run's own queue, so the replay can be read back.
    monkeypatch.setitem(bus._handlers, ("test.happened", test_queue), [])
    bus.handles("test.happened", queue=test_queue)(handler_state.remember)
    letter = dead_letter_for(test_queue, handler_state)
    eager.conf.task_always_eager = False  # the admin sends to the broker, as in production

    reply = admin_client.post(
        "/admin/common/events/deadletter/",
        {"action": "replay", "_selected_action": [letter.pk]},
    )
    assert reply.status_code == 302
    letter.refresh_from_db()
    assert letter.replayed_at is not None
    (message,) = queued_messages(broker_redis, test_queue)
    assert message["args"] == [letter.envelope, test_queue, HANDLER]

    # The queue's worker runs it: this time the fixed handler succeeds.
    eager.conf.task_always_eager = True
    handle_event.apply_async(args=message["args"])
    assert InboxEntry.objects.filter(event_id=letter.event_id, handler=HANDLER).exists()
    assert DeadLetter.objects.count() == 1


@pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored")
@pytest.mark.django_db
def test_admin_replay_runs_the_handler_when_celery_is_eager(
    admin_client, handler_state, eager, quick_retries, use_broker
):
    # Should replay send to a broker after all, it finds none (nothing lands in Redis).
    use_broker(f"redis://127.0.0.1:{closed_port()}/0")
    letter = dead_letter_for("test-q", handler_state)
    try:
        admin_client.post(
            "/admin/common/events/deadletter/",
            {"action": "replay", "_selected_action": [letter.pk]},
        )
    finally:
        letter.refresh_from_db()
    assert InboxEntry.objects.filter(event_id=letter.event_id, handler=HANDLER).exists()
    assert letter.replayed_at is not None


@pytest.mark.django_db
def test_admin_send_now_relays_pending_events(admin_client, test_queue, broker_redis):
    event = OutboxEvent.objects.create(type="test.happened", producer="t", data={})
    reply = admin_client.post(
        "/admin/common/events/outboxevent/",
        {"action": "send_now", "_selected_action": [str(event.pk)]},
    )
    assert reply.status_code == 302
    event.refresh_from_db()
    assert event.sent_at is not None
    assert [m["args"][0]["id"] for m in queued_messages(broker_redis, test_queue)] == [
        str(event.id)
    ]


@pytest.mark.django_db
def test_admin_pages_render(admin_client):
    for model in ("outboxevent", "inboxentry", "deadletter"):
        assert admin_client.get(f"/admin/common/events/{model}/").status_code == 200


def test_retry_delay_doubles_and_caps(settings):
    settings.EVENT_RETRY_BASE_SECONDS = 1.5
    settings.EVENT_RETRY_MAX_SECONDS = 20
    assert [retry_delay(n) for n in range(6)] == [1.5, 3, 6, 12, 20, 20]


def test_celery_app_is_configured_from_django_settings(celery_app, settings):
    from celery import current_app

    assert current_app._get_current_object() is celery_app
    assert celery_app.conf.task_acks_late is True
    assert celery_app.conf.worker_prefetch_multiplier == 1
    assert celery_app.conf.broker_transport_options["visibility_timeout"] == 300
    assert celery_app.conf.task_default_queue == "common-tests"
    assert "food.events.handle" in celery_app.tasks
    assert "food.events.relay_outbox" in celery_app.tasks

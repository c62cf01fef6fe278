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
from django.utils.html import escape

from food_common.events import bus, signing
from food_common.events.bus import Event, dispatch, publish, relay_pending
from food_common.events.models import REJECTED, DeadLetter, InboxEntry, OutboxEvent
from food_common.events.tasks import handle_event, purge_outbox, relay_outbox, retry_delay
from food_common.testing import admin_tour, envelope
from tests.conftest import closed_port
from tests.models import HandledNote

HANDLER = "tests.handlers.remember"


def envelope_of(text="hello", request_id="evt-req-1") -> dict:
    return envelope("test.happened", {"text": text}, request_id=request_id)


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


@pytest.mark.produces("test.happened")
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
    # What Celery logs at INFO and Flower shows of its arguments: never the event's data.
    assert message["headers"]["argsrepr"] == (
        f"[<event test.happened {event.id} request_id=p-1>, '{test_queue}']"
    )


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
    assert message["headers"]["request_id"] == "p-2"  # its request's id, not the sweep's "-"
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


@pytest.mark.produces("nobody.listens")
@pytest.mark.django_db
def test_envelope_round_trips_and_encodes_decimals():
    with transaction.atomic():
        event = publish("nobody.listens", {"amount": Decimal("12.50")})
    event.refresh_from_db()
    envelope = json.loads(json.dumps(event.envelope()))
    assert envelope["data"] == {"amount": "12.50"}
    parsed = Event.from_envelope(envelope)
    assert parsed.id == str(event.id)
    assert parsed.version == 2  # the contract's version of it
    assert parsed.occurred_at == event.occurred_at
    assert parsed.producer == "common"


# -- consuming -------------------------------------------------------------------------------


def test_the_test_handler_is_registered_by_autodiscovery():
    assert [h.name for h in bus.handlers_for("test.happened", "test-q")] == [HANDLER]
    assert bus.handlers_for("test.happened", "elsewhere") == []


@pytest.mark.consumes("test.happened")
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
def test_handlers_run_under_the_request_id_the_relay_sends(handler_state, eager):
    envelope = envelope_of(request_id="from-producer")
    handle_event.apply_async(args=[envelope, "test-q"], headers={"request_id": "from-producer"})
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
    handler = bus.Handler(HANDLER, "test.happened", test_queue, handler_state.remember)
    monkeypatch.setitem(bus._handlers, ("test.happened", test_queue), [handler])
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
    # Handled under the request id of its first delivery, not the admin's request.
    assert message["headers"]["request_id"] == letter.envelope["request_id"] == "evt-req-1"
    assert message["headers"]["argsrepr"] == (
        f"[<event test.happened {letter.event_id} request_id=evt-req-1>, "
        f"'{test_queue}', '{HANDLER}']"
    )

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
def test_the_admin_shows_events_as_records(admin_client):
    event = OutboxEvent.objects.create(
        type="test.happened",
        producer="common",
        data={"text": "hello", "to": {"email": "ann@example.com"}},
        occurred_at=datetime(2026, 1, 5, 15, 4, 5, tzinfo=UTC),
    )
    InboxEntry.objects.create(event_id=event.id, event_type=event.type, handler=HANDLER)
    DeadLetter.objects.create(
        event_id=event.id,
        event_type=event.type,
        handler=HANDLER,
        queue="test-q",
        envelope=event.envelope(),
        error="RuntimeError: broken",
        attempts=3,
    )

    tour = admin_tour(admin_client, "common")

    assert tour.problems == []
    assert sorted(tour.records) == ["events.deadletter", "events.inboxentry", "events.outboxevent"]
    assert len(tour.pages) > 9  # index, 3 lists, 3 rows, 3 add and 3 delete pages, users...
    page = admin_client.get(f"/admin/common/events/outboxevent/{event.pk}/change/")
    # View only: no form fields, no save button; the data indented; times to the second.
    assert not page.context["adminform"].form.fields
    assert 'name="_save"' not in page.content.decode()
    html = page.content.decode()
    event.refresh_from_db()  # data as stored (jsonb orders the keys)
    assert f"<pre>{escape(json.dumps(event.data, indent=2))}</pre>" in html
    assert "2026-01-05 15:04:05" in html


@pytest.mark.django_db
def test_only_who_may_change_events_may_replay_or_send_them(client, django_user_model):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("viewer", "v@example.com", "pw", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename="view_deadletter"))
    client.force_login(staff)
    url = "/admin/common/events/deadletter/"

    viewer = client.get(url)
    staff.user_permissions.add(Permission.objects.get(codename="change_deadletter"))
    operator = client.get(url)

    assert viewer.status_code == operator.status_code == 200
    assert viewer.context["action_form"] is None
    assert [name for name, _ in operator.context["action_form"].fields["action"].choices] == [
        "",
        "replay",
    ]


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


# -- proof of origin (food_common.events.signing) --------------------------------------------


def unsigned(envelope: dict) -> dict:
    return {key: value for key, value in envelope.items() if key != "signature"}


def rejected_count(event_type: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("food_events_rejected_total", {"type": event_type}) or 0


def test_an_envelope_is_signed_over_every_field_but_its_signature(settings):
    envelope = envelope_of()
    assert signing.rejection(envelope) is None
    assert envelope["signature"] == signing.signature_of(envelope, settings.EVENT_SIGNING_KEY)
    # Key order does not matter (the signed form is canonical); every field's value does.
    assert signing.rejection(dict(reversed(envelope.items()))) is None
    changes = {
        "id": str(uuid.uuid4()),
        "type": "test.other",
        "version": 2,
        "occurred_at": timezone.now().isoformat(),
        "producer": "payments",
        "request_id": "r",
        "data": {"text": "other"},
    }
    assert set(changes) == set(envelope) - {"signature"}
    for field, value in changes.items():
        assert signing.rejection({**envelope, field: value}) == signing.BAD_SIGNATURE, field
    assert signing.rejection({**envelope, "extra": 1}) == signing.BAD_SIGNATURE


@pytest.mark.django_db(transaction=True)
def test_the_relayed_event_carries_a_signature_the_consumer_accepts(test_queue, broker_redis):
    with transaction.atomic():
        publish("test.happened", {"amount": Decimal("12.50"), "text": "é"})
    (message,) = queued_messages(broker_redis, test_queue)
    envelope = message["args"][0]
    assert len(envelope["signature"]) == 64  # hex SHA-256
    assert signing.rejection(envelope) is None


@pytest.mark.django_db
def test_a_signed_envelope_is_applied(handler_state, eager):
    envelope = envelope_of()
    handle_event.apply_async(args=[envelope, "test-q"], headers={"request_id": "evt-req-1"})
    assert handler_state.CALLS == [(envelope["id"], "evt-req-1")]
    assert InboxEntry.objects.filter(event_id=envelope["id"]).count() == 1
    assert DeadLetter.objects.count() == 0


def forged(kind: str) -> tuple[dict, str]:
    """Return an envelope its producer did not sign, and the reason it must be rejected."""
    envelope = envelope_of("genuine")
    if kind == "unsigned":
        return unsigned(envelope), signing.UNSIGNED
    if kind == "tampered data":
        return {**envelope, "data": {"text": "forged"}}, signing.BAD_SIGNATURE
    if kind == "wrong key":
        other = unsigned(envelope)
        return {**other, "signature": signing.signature_of(other, "another key")}, (
            signing.BAD_SIGNATURE
        )
    if kind == "signature not a string":
        return {**envelope, "signature": ["x"]}, signing.BAD_SIGNATURE
    if kind == "non-ascii signature":
        return {**envelope, "signature": "é" * 64}, signing.BAD_SIGNATURE
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    ["unsigned", "tampered data", "wrong key", "signature not a string", "non-ascii signature"],
)
@pytest.mark.django_db
def test_an_envelope_its_producer_did_not_sign_is_rejected_dead_lettered_and_counted(
    kind, handler_state, eager, caplog
):
    envelope, reason = forged(kind)
    before = rejected_count("test.happened")
    with caplog.at_level("WARNING", logger="food_common.events.tasks"):
        handle_event.apply_async(args=[envelope, "test-q"])
    # Never applied: no handler call, no inbox entry, none of the handler's writes.
    assert handler_state.CALLS == []
    assert InboxEntry.objects.count() == 0 and HandledNote.objects.count() == 0
    letter = DeadLetter.objects.get()
    assert (str(letter.event_id), letter.event_type) == (envelope["id"], "test.happened")
    assert (letter.handler, letter.queue, letter.error) == (REJECTED, "test-q", reason)
    assert letter.envelope == envelope and letter.attempts == 1
    assert rejected_count("test.happened") == before + 1
    (record,) = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert record.levelname == "WARNING"
    assert envelope["id"] in record.getMessage() and "test.happened" in record.getMessage()
    assert "genuine" not in record.getMessage() and "forged" not in record.getMessage()


@pytest.mark.parametrize(
    "envelope",
    [["not", "a", "dict"], "text", {"id": 5, "type": "x"}, {"type": "payment.succeeded"}],
    ids=["list", "string", "id-not-a-string", "no-id"],
)
@pytest.mark.django_db
def test_something_that_is_no_envelope_is_rejected_too(envelope, handler_state, eager):
    handle_event.apply_async(args=[envelope, "test-q"])
    assert handler_state.CALLS == []
    letter = DeadLetter.objects.get()
    assert (letter.handler, letter.error) == (REJECTED, signing.MALFORMED)
    assert letter.event_id == uuid.UUID(int=0)  # the id it gave is no UUID
    assert letter.envelope == envelope


@pytest.mark.django_db
def test_a_forged_event_is_counted_under_its_type_if_the_contract_has_it(handler_state, eager):
    known, other = rejected_count("nobody.listens"), rejected_count("other")
    forged_known = {**unsigned(envelope_of()), "type": "nobody.listens"}
    forged_unknown = {**unsigned(envelope_of()), "type": "made.up"}
    handle_event.apply_async(args=[forged_known, "test-q"])
    handle_event.apply_async(args=[forged_unknown, "test-q"])
    assert rejected_count("nobody.listens") == known + 1
    assert rejected_count("other") == other + 1
    assert rejected_count("made.up") == 0
    from prometheus_client import REGISTRY

    # A rejection is not a handler that gave up: not in the dead-lettered figure.
    assert not REGISTRY.get_sample_value(
        "food_events_dead_lettered_total", {"type": "nobody.listens"}
    )


@pytest.mark.django_db
def test_the_previous_key_still_verifies_during_a_rotation(handler_state, eager, settings):
    settings.EVENT_SIGNING_KEY = "old-key"
    signed_before = envelope_of("in flight")
    settings.EVENT_SIGNING_KEY, settings.EVENT_SIGNING_KEY_PREVIOUS = "new-key", "old-key"
    signed_after = envelope_of("new")
    assert signed_after["signature"] == signing.signature_of(signed_after, "new-key")
    handle_event.apply_async(args=[signed_before, "test-q"])
    handle_event.apply_async(args=[signed_after, "test-q"])
    assert len(handler_state.CALLS) == 2 and DeadLetter.objects.count() == 0

    settings.EVENT_SIGNING_KEY_PREVIOUS = ""  # rotation over: the old key is refused
    old = {**signed_before, "id": str(uuid.uuid4())}
    old["signature"] = signing.signature_of(old, "old-key")
    handle_event.apply_async(args=[old, "test-q"])
    assert len(handler_state.CALLS) == 2
    assert DeadLetter.objects.get().error == signing.BAD_SIGNATURE


@pytest.mark.django_db
def test_admin_replay_of_a_rejected_envelope_checks_it_again(
    admin_client, handler_state, eager, settings
):
    # The consumer had the wrong key: a genuine event was rejected.
    envelope = envelope_of()
    deployment_key, settings.EVENT_SIGNING_KEY = settings.EVENT_SIGNING_KEY, "set by mistake"
    handle_event.apply_async(args=[envelope, "test-q"])
    forged_one = {**unsigned(envelope_of()), "data": {"text": "forged"}}
    handle_event.apply_async(args=[forged_one, "test-q"])
    assert handler_state.CALLS == [] and DeadLetter.objects.count() == 2
    settings.EVENT_SIGNING_KEY = deployment_key  # fixed

    letters = list(DeadLetter.objects.values_list("pk", flat=True))
    reply = admin_client.post(
        "/admin/common/events/deadletter/", {"action": "replay", "_selected_action": letters}
    )
    assert reply.status_code == 302
    # The genuine one now reaches every handler of its queue; the forged one is rejected again.
    assert handler_state.CALLS == [(envelope["id"], "evt-req-1")]
    assert DeadLetter.objects.filter(event_id=forged_one["id"], replayed_at=None).count() == 1
    assert DeadLetter.objects.filter(event_id=forged_one["id"]).count() == 2


def test_event_signing_key_is_required_when_debug_is_off(monkeypatch):
    from django.core.exceptions import ImproperlyConfigured

    from food_common.settings_base import event_signing_settings

    monkeypatch.setenv("DEBUG", "0")
    monkeypatch.delenv("EVENT_SIGNING_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="EVENT_SIGNING_KEY must be set"):
        event_signing_settings()
    monkeypatch.setenv("EVENT_SIGNING_KEY", "k" * 40)
    monkeypatch.setenv("EVENT_SIGNING_KEY_PREVIOUS", "p" * 40)
    assert event_signing_settings() == {
        "EVENT_SIGNING_KEY": "k" * 40,
        "EVENT_SIGNING_KEY_PREVIOUS": "p" * 40,
    }


# -- the outbox purge ------------------------------------------------------------------------------


def outbox_row(days_ago: float, *, sent: bool) -> OutboxEvent:
    occurred = timezone.now() - timedelta(days=days_ago)
    return OutboxEvent.objects.create(
        type="test.happened",
        producer="tests",
        data={"days_ago": days_ago},
        occurred_at=occurred,
        sent_at=occurred + timedelta(seconds=1) if sent else None,
    )


@pytest.mark.django_db
def test_the_purge_deletes_only_sent_events_older_than_the_retention(settings):
    settings.EVENT_OUTBOX_RETENTION_DAYS = 30
    old_sent = [outbox_row(31 + n, sent=True) for n in range(5)]
    kept = {
        outbox_row(400, sent=False).pk,  # never sent: kept whatever its age
        outbox_row(29, sent=True).pk,  # within the retention
        outbox_row(0, sent=True).pk,
    }
    assert purge_outbox() == len(old_sent)
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == kept
    assert purge_outbox() == 0


@pytest.mark.django_db
def test_the_purge_works_in_batches_until_none_is_left():
    for n in range(7):
        outbox_row(40 + n, sent=True)
    outbox_row(1, sent=True)
    assert bus.purge_sent(older_than_days=30, batch=3, max_batches=2) == 6  # two batches of 3
    assert bus.purge_sent(older_than_days=30, batch=3, max_batches=2) == 1  # the rest, next run
    assert OutboxEvent.objects.count() == 1


@pytest.mark.django_db
def test_a_retention_of_zero_keeps_every_event(settings):
    settings.EVENT_OUTBOX_RETENTION_DAYS = 0
    outbox_row(1000, sent=True)
    assert purge_outbox() == 0
    assert OutboxEvent.objects.count() == 1

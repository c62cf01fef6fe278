"""Events reach the handlers through the real bus dispatch, inbox included."""

import pytest
from django.core import mail

from food_common.events.bus import Event, dispatch
from food_common.events.models import InboxEntry
from notifications import sending, services
from notifications.models import Notification, NotificationStatus
from notifications.tests.factories import CUSTOMER, EVENTS, envelope, order_created_data
from notifications.tests.fakes import failing_send_mail

pytestmark = pytest.mark.django_db

SUBJECTS = {
    "order.created": "Order #12 placed",
    "order.status_changed": "Order #12 accepted",
    "order.cancelled": "Order #12 cancelled",
    "payment.succeeded": "Payment received for order #12",
    "payment.failed": "Payment failed for order #12",
    "payment.refunded": "Refund for order #12",
}


@pytest.mark.parametrize(
    "event_type", [pytest.param(t, marks=pytest.mark.consumes(t)) for t in EVENTS]
)
def test_each_event_gives_its_customer_one_notification_sent_after_commit(
    event_type, django_capture_on_commit_callbacks, queued
):
    event = envelope(event_type, EVENTS[event_type])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        failures = dispatch(event, "notifications")

    assert failures == []
    notification = Notification.objects.get(recipient_id=CUSTOMER)
    assert notification.event_id.hex == event["id"].replace("-", "")
    assert notification.event_type == event_type
    assert notification.recipient_id == CUSTOMER
    assert notification.recipient_email == "ann@example.com"
    assert notification.channel == "email"
    assert notification.subject == SUBJECTS[event_type]
    # Sent by the worker itself once the handler committed: no send task queued. Every
    # notification is pushed live then too (an owner's is live only: no email).
    assert len(callbacks) == Notification.objects.count() + 1
    assert notification.status == NotificationStatus.SENT
    assert notification.attempts == 1
    assert [(m.subject, m.to) for m in mail.outbox] == [(SUBJECTS[event_type], ["ann@example.com"])]
    assert queued == []


def test_a_failed_first_attempt_is_recorded_and_left_to_the_send_tasks_retries(
    django_capture_on_commit_callbacks, queued, monkeypatch, settings
):
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 2.0
    monkeypatch.setattr(sending, "send_mail", failing_send_mail([]))

    with django_capture_on_commit_callbacks(execute=True):
        failures = dispatch(envelope("order.created", order_created_data()), "notifications")

    assert failures == []  # the event is handled; the email is the send task's business now
    notification = Notification.objects.get()
    assert notification.status == NotificationStatus.PENDING
    assert notification.attempts == 1
    assert notification.last_error == "MailServerDown: connection refused"
    assert mail.outbox == []
    # Queued as the first retry: the retry count and the backoff go on from the attempt made.
    assert queued == [
        {
            "args": [notification.id],
            "kwargs": None,
            "queue": "notifications",
            "retries": 1,
            "countdown": 2.0,
        }
    ]


def test_with_no_retries_a_failed_first_attempt_is_final(
    django_capture_on_commit_callbacks, queued, monkeypatch, settings
):
    settings.NOTIFICATION_MAX_RETRIES = 0
    monkeypatch.setattr(sending, "send_mail", failing_send_mail([]))

    with django_capture_on_commit_callbacks(execute=True):
        dispatch(envelope("order.created", order_created_data()), "notifications")

    notification = Notification.objects.get()
    assert notification.status == NotificationStatus.FAILED
    assert notification.attempts == 1
    assert queued == []


@pytest.mark.parametrize("event_type", list(EVENTS))
def test_a_repeated_delivery_creates_and_sends_nothing_more(
    event_type, django_capture_on_commit_callbacks, queued
):
    event = envelope(event_type, EVENTS[event_type])
    with django_capture_on_commit_callbacks(execute=True):
        dispatch(event, "notifications")
    written = Notification.objects.count()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        failures = dispatch(event, "notifications")

    assert failures == []
    assert Notification.objects.count() == written
    assert callbacks == []
    assert len(mail.outbox) == 1


def test_the_send_is_only_scheduled_not_run_inside_the_handler(
    django_capture_on_commit_callbacks, queued
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        dispatch(envelope("order.created", order_created_data()), "notifications")

    assert len(callbacks) == 2  # the live push, then the email
    assert mail.outbox == []  # nothing sent before the commit
    assert Notification.objects.get().status == NotificationStatus.PENDING


def test_order_confirmation_lists_the_items_and_the_total():
    dispatch(envelope("order.created", order_created_data(subtotal="22.00")), "notifications")

    body = Notification.objects.get().body
    assert "order #12" in body
    assert "- 2 × Margherita at 9.50 EUR = 19.00 EUR" in body
    assert "- 1 × Tiramisu at 5.00 EUR = 5.00 EUR" in body
    assert "Subtotal: 22.00 EUR" in body
    assert "Total: 24.00 EUR" in body


@pytest.mark.parametrize(
    ("event_type", "changes", "words"),
    [
        ("order.cancelled", {"was_paid": True}, "Your payment of 24.00 EUR will be refunded"),
        ("order.cancelled", {"was_paid": False}, "You have not been charged"),
        ("order.cancelled", {"reason": "Out of dough"}, "cancelled. Reason: Out of dough. Your"),
        ("payment.failed", {"reason": "provider_timeout"}, "did not go through: provider_timeout"),
        ("payment.succeeded", {}, "We received your payment of 24.00 EUR for order #12"),
        ("payment.refunded", {"amount": "24.50"}, "We refunded 24.50 EUR for order #12"),
        ("order.status_changed", {"to_status": "READY"}, "a rider will pick it up soon"),
    ],
)
def test_the_body_says_what_happened(event_type, changes, words):
    dispatch(envelope(event_type, {**EVENTS[event_type], **changes}), "notifications")

    assert words in Notification.objects.get(recipient_id=CUSTOMER).body


# PAID ... REFUNDED have an event of their own (told once, by it; PAID is news to the restaurant
# only, notifications/tests/test_live.py), OUT_FOR_DELIVERY and DELIVERED too (delivery.picked_up,
# delivery.delivered: notifications/tests/test_delivery.py); WAITING stands for a status the
# producer adds later: notifications has no words for it, so it says nothing.
@pytest.mark.parametrize(
    "to_status",
    ["PAYMENT_FAILED", "CANCELLED", "REFUNDED", "OUT_FOR_DELIVERY", "DELIVERED", "WAITING"],
)
def test_status_changes_without_words_of_their_own_are_not_told(to_status, queued):
    data = {**EVENTS["order.status_changed"], "to_status": to_status}

    failures = dispatch(envelope("order.status_changed", data), "notifications")

    assert failures == []
    assert not Notification.objects.exists()
    assert InboxEntry.objects.count() == 1


@pytest.mark.parametrize("missing", ["customer_id", "customer_email", "order_id"])
def test_a_malformed_event_fails_and_leaves_nothing_behind(missing, queued):
    data = {k: v for k, v in order_created_data().items() if k != missing}

    failures = dispatch(envelope("order.created", data, validate=False), "notifications")

    assert len(failures) == 1 and missing in failures[0][1]
    # Rolled back with the inbox entry, so the bus retries it and finally dead-letters it.
    assert not Notification.objects.exists()
    assert not InboxEntry.objects.exists()
    assert queued == []


def test_the_same_event_never_notifies_twice_even_past_the_inbox(
    django_capture_on_commit_callbacks, queued
):
    event = Event.from_envelope(envelope("payment.succeeded", EVENTS["payment.succeeded"]))

    with django_capture_on_commit_callbacks(execute=True):
        first = services.notification_create_for_event(event=event)
        second = services.notification_create_for_event(event=event)

    assert first == second
    assert Notification.objects.count() == 1
    assert len(mail.outbox) == 1

"""The send task: one email per notification, retries with backoff, FAILED after the last try."""

import threading
import time
from datetime import timedelta

import pytest
from celery.exceptions import Retry
from django.core import mail
from django.db import connection
from django.utils import timezone

from food_common.request_id import get_request_id
from notifications import sending, services
from notifications.errors import NotificationNotSent
from notifications.models import Notification, NotificationStatus
from notifications.tasks import (
    queue_send,
    requeue_stale_notifications,
    retry_delay,
    send_notification,
)
from notifications.tests.factories import NotificationFactory
from notifications.tests.fakes import failing_send_mail

pytestmark = pytest.mark.django_db


def test_sends_the_email_once_and_marks_it_sent():
    notification = NotificationFactory(subject="Order #12 placed", body="Thanks!")

    send_notification.apply(args=[notification.id])

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == ["ann@example.com"]
    assert email.subject == "Order #12 placed"
    assert email.body == "Thanks!"
    assert email.from_email == "orders@food.example"
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
    assert notification.sent_at is not None
    assert notification.attempts == 1
    assert notification.last_error == ""


def test_uses_the_configured_sender(settings):
    settings.DEFAULT_FROM_EMAIL = "food@example.org"
    notification = NotificationFactory()

    send_notification.run(notification.id)

    assert mail.outbox[0].from_email == "food@example.org"


def test_a_sent_notification_is_not_sent_again():
    notification = NotificationFactory()
    send_notification.run(notification.id)

    send_notification.run(notification.id)
    send_notification.apply(args=[notification.id])

    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.attempts == 1


def test_a_failing_mail_server_ends_failed_after_the_retries(monkeypatch, settings):
    settings.NOTIFICATION_MAX_RETRIES = 3
    calls = []
    monkeypatch.setattr(sending, "send_mail", failing_send_mail(calls))
    notification = NotificationFactory()

    send_notification.apply(args=[notification.id])

    assert len(calls) == 4  # the first try and 3 retries
    assert mail.outbox == []
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.FAILED
    assert notification.attempts == 4
    assert notification.last_error == "MailServerDown: connection refused"
    assert notification.sent_at is None


def test_a_passing_failure_is_retried_and_sent(monkeypatch):
    calls = []
    monkeypatch.setattr(sending, "send_mail", failing_send_mail(calls, failures=2))
    notification = NotificationFactory()

    send_notification.apply(args=[notification.id])

    assert len(calls) == 3
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
    assert notification.attempts == 3
    assert notification.last_error == ""


def test_in_a_worker_a_failure_is_retried_later_on_the_notifications_queue(
    monkeypatch, settings, queued
):
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 1.0
    monkeypatch.setattr(sending, "send_mail", failing_send_mail([]))
    notification = NotificationFactory()
    # As a worker runs the second try of a message it took from the orders queue by mistake.
    send_notification.push_request(
        id="t-1",
        args=[notification.id],
        kwargs={},
        retries=1,
        called_directly=False,
        is_eager=False,
        delivery_info={"exchange": "orders", "routing_key": "orders"},
    )
    try:
        with pytest.raises(Retry):
            send_notification.run(notification.id)
    finally:
        send_notification.pop_request()

    assert len(queued) == 1
    assert list(queued[0]["args"]) == [notification.id]
    assert queued[0]["queue"] == "notifications"
    assert queued[0]["countdown"] == 2.0
    assert queued[0]["retries"] == 2


def test_a_failed_attempt_is_recorded_and_raised_for_the_retry(monkeypatch):
    monkeypatch.setattr(sending, "send_mail", failing_send_mail([]))
    notification = NotificationFactory()

    with pytest.raises(NotificationNotSent):
        sending.notification_send(notification_id=notification.id)

    notification.refresh_from_db()
    assert notification.status == NotificationStatus.PENDING
    assert notification.attempts == 1
    assert "connection refused" in notification.last_error


def test_a_deleted_notification_is_nothing_to_send():
    notification = NotificationFactory()
    notification_id = notification.id
    notification.delete()

    send_notification.run(notification_id)

    assert mail.outbox == []


@pytest.mark.parametrize(
    ("retries", "expected"), [(0, 1.0), (1, 2.0), (2, 4.0), (5, 32.0), (6, 60.0), (20, 60.0)]
)
def test_backoff_doubles_from_the_base_up_to_the_cap(settings, retries, expected):
    settings.NOTIFICATION_RETRY_BASE_SECONDS = 1.0
    settings.NOTIFICATION_RETRY_MAX_SECONDS = 60.0

    assert retry_delay(retries) == expected


def test_the_task_is_queued_on_the_notifications_queue(queued):
    queue_send(42)

    assert send_notification.name == "notifications.send"
    assert send_notification.acks_late is True
    assert queued == [{"args": [42], "kwargs": None, "queue": "notifications"}]


def test_the_task_logs_with_the_request_id_of_the_event(monkeypatch):
    seen = []
    monkeypatch.setattr(sending, "send_mail", lambda *a, **k: seen.append(get_request_id()))
    notification = NotificationFactory()

    send_notification.apply(args=[notification.id], headers={"request_id": "req-42"})

    assert seen == ["req-42"]
    assert get_request_id() == "-"


def test_sending_again_queues_only_failed_notifications(django_capture_on_commit_callbacks, queued):
    failed = NotificationFactory(status=NotificationStatus.FAILED, attempts=6)
    sent = NotificationFactory(status=NotificationStatus.SENT)

    with django_capture_on_commit_callbacks(execute=True):
        assert services.notification_send_again(notification=failed) is True
        assert services.notification_send_again(notification=sent) is False

    failed.refresh_from_db()
    assert failed.status == NotificationStatus.PENDING
    assert [call["args"] for call in queued] == [[failed.id]]

    send_notification.apply(args=[failed.id])
    failed.refresh_from_db()
    assert failed.status == NotificationStatus.SENT
    assert failed.attempts == 7


def test_the_sweep_queues_again_only_notifications_left_pending(settings, queued):
    settings.NOTIFICATION_STALE_SECONDS = 600
    long_ago = timezone.now() - timedelta(hours=1)
    stale = NotificationFactory()
    fresh = NotificationFactory()
    sent = NotificationFactory(status=NotificationStatus.SENT)
    Notification.objects.filter(pk__in=[stale.pk, sent.pk]).update(updated_at=long_ago)

    assert requeue_stale_notifications.run() == 1

    assert [call["args"] for call in queued] == [[stale.id]]
    assert fresh.id not in queued[0]["args"]


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_of_the_same_task_at_once_send_one_email(monkeypatch):
    notification = NotificationFactory()
    real_send_mail = sending.send_mail

    def slow_send_mail(*args, **kwargs):
        time.sleep(0.3)  # the second delivery arrives while the first is sending
        return real_send_mail(*args, **kwargs)

    monkeypatch.setattr(sending, "send_mail", slow_send_mail)
    errors = []

    def deliver():
        try:
            send_notification.run(notification.id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    workers = [threading.Thread(target=deliver) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert errors == []
    assert len(mail.outbox) == 1
    notification.refresh_from_db()
    assert notification.status == NotificationStatus.SENT
    assert notification.attempts == 1

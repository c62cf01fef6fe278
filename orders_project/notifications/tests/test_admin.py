import pytest

from notifications.models import NotificationStatus
from notifications.tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/orders/notifications/notification/"


def test_the_list_shows_filters_and_searches(admin_client):
    wanted = NotificationFactory(recipient_email="find.me@example.com")
    NotificationFactory(recipient_email="other@example.com", status=NotificationStatus.FAILED)

    by_email = admin_client.get(LIST_URL, {"q": "find.me"})
    by_event = admin_client.get(LIST_URL, {"q": str(wanted.event_id)})
    by_status = admin_client.get(LIST_URL, {"status__exact": "FAILED"})
    no_match = admin_client.get(LIST_URL, {"q": "not-a-uuid"})

    assert by_email.status_code == by_event.status_code == by_status.status_code == 200
    assert [n.pk for n in by_email.context["cl"].result_list] == [wanted.pk]
    assert [n.pk for n in by_event.context["cl"].result_list] == [wanted.pk]
    assert [n.status for n in by_status.context["cl"].result_list] == ["FAILED"]
    assert no_match.status_code == 200
    assert list(no_match.context["cl"].result_list) == []


def test_notifications_are_read_only(admin_client):
    notification = NotificationFactory()

    change = admin_client.get(f"{LIST_URL}{notification.pk}/change/")
    add = admin_client.get(f"{LIST_URL}add/")

    assert change.status_code == 200
    assert "subject" not in change.context["adminform"].form.fields
    assert add.status_code == 403


def test_send_again_queues_the_failed_ones(
    admin_client, django_capture_on_commit_callbacks, queued
):
    failed = NotificationFactory(status=NotificationStatus.FAILED)
    sent = NotificationFactory(status=NotificationStatus.SENT)

    with django_capture_on_commit_callbacks(execute=True):
        reply = admin_client.post(
            LIST_URL,
            {"action": "send_again", "_selected_action": [failed.pk, sent.pk]},
            follow=True,
        )

    assert reply.status_code == 200
    failed.refresh_from_db()
    sent.refresh_from_db()
    assert failed.status == NotificationStatus.PENDING
    assert sent.status == NotificationStatus.SENT
    assert [call["args"] for call in queued] == [[failed.pk]]
    texts = [str(m) for m in reply.context["messages"]]
    assert "1 notification(s) queued again." in texts
    assert "1 skipped: only FAILED notifications are sent again." in texts

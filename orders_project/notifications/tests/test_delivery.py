"""The delivery service's events tell the customer who brings the order, that it is on its way
and that it arrived; a delivery nobody took is told to the customer and the restaurant's owner."""

import pytest
from django.core import mail

from food_common.events.bus import dispatch
from food_common.testing import OWNER
from notifications.live import live_message
from notifications.models import Notification, NotificationStatus
from notifications.tests.factories import ABOUT_ORDER_12, CUSTOMER, envelope

pytestmark = pytest.mark.django_db

RIDER = {"id": 3, "user_id": 401, "name": "Rita", "vehicle_type": "scooter"}
WHEN = "2026-01-05T12:00:00Z"
DELIVERY_EVENTS = {
    "delivery.assigned": {
        **ABOUT_ORDER_12,
        "delivery_id": 5,
        "rider": RIDER,
        "assigned_at": WHEN,
        "offer_withdrawn_from": None,
    },
    "delivery.picked_up": {
        **ABOUT_ORDER_12,
        "delivery_id": 5,
        "rider": RIDER,
        "picked_up_at": WHEN,
    },
    "delivery.delivered": {
        **ABOUT_ORDER_12,
        "delivery_id": 5,
        "rider": RIDER,
        "delivered_at": WHEN,
    },
    "delivery.unassigned": {
        **ABOUT_ORDER_12,
        "delivery_id": 5,
        "searched_seconds": 300,
        "radius_km": 15.0,
    },
}
# What the customer is told, by email: (subject, words of the body, live type, live data).
TOLD = {
    "delivery.assigned": (
        "A rider has your order #12",
        "Rita will bring your order #12 by scooter; they are on their way to the restaurant.",
        "delivery",
        {
            "status": "ASSIGNED",
            "delivery_id": 5,
            "rider": {"name": "Rita", "vehicle_type": "scooter"},
        },
    ),
    "delivery.picked_up": (
        "Order #12 is on its way",
        "Rita picked up your order #12 and is on the way to you.",
        "order.status",
        {
            "status": "OUT_FOR_DELIVERY",
            "delivery_id": 5,
            "rider": {"name": "Rita", "vehicle_type": "scooter"},
        },
    ),
    "delivery.delivered": (
        "Order #12 delivered",
        "Your order #12 was delivered. Enjoy your meal!",
        "order.status",
        {"status": "DELIVERED", "delivery_id": 5},
    ),
    "delivery.unassigned": (
        "Still looking for a rider for order #12",
        "No rider could take your order #12 yet.",
        "delivery",
        {"status": "UNASSIGNED", "delivery_id": 5},
    ),
}


@pytest.mark.parametrize(
    "event_type", [pytest.param(t, marks=pytest.mark.consumes(t)) for t in DELIVERY_EVENTS]
)
def test_the_customer_is_told_each_step_by_email_once(
    event_type, django_capture_on_commit_callbacks
):
    event = envelope(event_type, DELIVERY_EVENTS[event_type])

    with django_capture_on_commit_callbacks(execute=True):
        assert dispatch(event, "notifications") == []
        assert dispatch(event, "notifications") == []  # delivered twice: told once

    subject, words, kind, data = TOLD[event_type]
    notification = Notification.objects.get(recipient_id=CUSTOMER)
    assert (notification.event_type, notification.subject) == (event_type, subject)
    assert words in notification.body
    assert (notification.channel, notification.recipient_email) == ("email", "ann@example.com")
    assert notification.status == NotificationStatus.SENT
    assert [(m.subject, m.to) for m in mail.outbox] == [(subject, ["ann@example.com"])]
    live = live_message(notification)
    assert (live["type"], live["order_id"], live["data"]) == (kind, 12, data)


def test_a_delivery_nobody_took_is_told_to_the_restaurants_owner_too_live_only(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        dispatch(
            envelope("delivery.unassigned", DELIVERY_EVENTS["delivery.unassigned"]), "notifications"
        )

    owner = Notification.objects.get(recipient_id=OWNER)
    # The event names the owner by user id only: stored (GET /notifications), pushed, never emailed.
    assert (owner.channel, owner.recipient_email, owner.status) == ("live", "", "SENT")
    assert owner.subject == "No rider for order #12"
    assert "assign one by hand" in owner.body
    assert live_message(owner)["data"] == {
        "status": "UNASSIGNED",
        "delivery_id": 5,
        "restaurant_id": 3,
    }
    assert Notification.objects.get(recipient_id=CUSTOMER).channel == "email"
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]  # one email: the customer's


def test_the_owner_reads_the_news_in_their_notifications(owner):
    dispatch(
        envelope("delivery.unassigned", DELIVERY_EVENTS["delivery.unassigned"]), "notifications"
    )

    body = owner.get("/notifications").json()

    assert [n["subject"] for n in body["results"]] == ["No rider for order #12"]
    assert body["results"][0]["channel"] == "live"


def test_a_rider_without_a_vehicle_is_still_named():
    data = {**DELIVERY_EVENTS["delivery.assigned"], "rider": {**RIDER, "vehicle_type": ""}}

    dispatch(envelope("delivery.assigned", data, validate=False), "notifications")

    assert Notification.objects.get().body.startswith("Rita will bring your order #12;")


def test_an_assignment_without_its_rider_fails_and_is_retried():
    data = {k: v for k, v in DELIVERY_EVENTS["delivery.assigned"].items() if k != "rider"}

    failures = dispatch(envelope("delivery.assigned", data, validate=False), "notifications")

    assert len(failures) == 1 and "rider" in failures[0][1]
    assert not Notification.objects.exists()

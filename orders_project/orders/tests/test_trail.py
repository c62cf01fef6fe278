"""An order's trail: its part here, the parts payments and delivery answer, merged; the API and the
order's admin page."""

import json

import pytest
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.test import override_settings

from food_common import testing
from food_common.events.bus import dispatch, handle_task_id, publish
from food_common.events.models import DeadLetter, OutboxEvent
from food_common.events.signing import REQUEST_SIGNATURE_HEADER, request_rejection
from food_common.http import ServiceResponse, UpstreamError
from orders import events, services, trail
from orders.clients import TrailPeer
from orders.models import Order, OrderStatus
from orders.tests.factories import CUSTOMER, RESTAURANT, OrderFactory

pytestmark = pytest.mark.django_db


def payment_event(event_type: str, order: Order, **envelope_fields) -> dict:
    return testing.envelope(
        event_type,
        {
            "payment_id": 7,
            "order_id": order.pk,
            "amount": str(order.total),
            "currency": order.currency,
            "customer_id": order.customer_id,
            "customer_email": order.customer_email,
        },
        **envelope_fields,
    )


class PeerService:
    """A stand-in for another service's internal trail path: checks the request's signature like
    the real view (food_common.events.trail.SignedByPeer), then answers `part`."""

    def __init__(self, name: str, part: dict | None = None, down: bool = False):
        self.name, self.part, self.down = name, part, down
        self.key = None  # the deployment's key, unless set to another
        self.paths: list[str] = []

    def request(self, method, path, *, headers=None, **kwargs):
        self.paths.append(path)
        if self.down:
            raise UpstreamError(self.name, "unavailable", f"no copy of {self.name} is reachable")
        signature = (headers or {}).get(REQUEST_SIGNATURE_HEADER)
        with override_settings(EVENT_SIGNING_KEY=self.key or settings.EVENT_SIGNING_KEY):
            if request_rejection(method, path, signature):
                return ServiceResponse(self.name, 403, b'{"detail": "not signed"}', {})
        return ServiceResponse(self.name, 200, json.dumps(self.part).encode(), {})


def payments_part(order: Order, *, succeeded: dict, refunded: dict, cancelled_id: str) -> dict:
    """What payments answers: it published payment.succeeded and .refunded, handled the cancel."""

    def published(event: dict) -> dict:
        return {
            "id": event["id"],
            "type": event["type"],
            "producer": "payments",
            "occurred_at": event["occurred_at"],
            "request_id": event["request_id"],
            "sent_at": event["occurred_at"],
            "send_attempts": 1,
            "last_error": "",
            "url": f"/admin/payments/events/outboxevent/{event['id']}/change/",
        }

    return {
        "service": "payments",
        "published": [published(succeeded), published(refunded)],
        "handled": [
            {
                "event_id": cancelled_id,
                "event_type": "order.cancelled",
                "handler": "payments.handlers.refund_cancelled_order",
                "queue": "payments",
                "handled_at": refunded["occurred_at"],
                "url": "",
            }
        ],
        "dead_letters": [],
        "records": [
            {
                "at": succeeded["occurred_at"],
                "what": "payment 7 (REFUNDED now)",
                "detail": "19.00 EUR",
                "url": "/admin/payments/payments/payment/7/change/",
            }
        ],
        "problems": [],
        "payments": [{"id": 7, "status": "REFUNDED", "refunds": [{"id": 3}]}],
    }


@pytest.fixture
def story(monkeypatch):
    """Order placed, paid, cancelled and refunded: its events handled here as the workers would,
    payments answering its part, delivery down."""
    order = OrderFactory()
    with transaction.atomic():
        publish(events.ORDER_CREATED, events.order_created(order, order.items.all()))
    created = testing.published("order.created")[0]
    assert dispatch(created, "notifications") == []
    succeeded = payment_event("payment.succeeded", order, request_id="req-pay")
    for queue in ("orders", "notifications"):
        assert dispatch(succeeded, queue) == []
    services.order_transition(
        order_id=order.pk,
        to_status=OrderStatus.CANCELLED,
        by_user_id=CUSTOMER,
        reason="changed my mind",
    )
    cancelled = testing.published("order.cancelled")[0]
    assert dispatch(cancelled, "notifications") == []
    refunded = payment_event("payment.refunded", order, request_id="req-cancel")
    for queue in ("orders", "notifications"):
        assert dispatch(refunded, queue) == []
    payments = PeerService(
        "payments",
        payments_part(order, succeeded=succeeded, refunded=refunded, cancelled_id=cancelled["id"]),
    )
    delivery = PeerService("delivery", down=True)
    peers = [TrailPeer(payments), TrailPeer(delivery)]
    monkeypatch.setattr("orders.clients.trail_peers", lambda: peers)
    # As the relay would have at each commit (these tests have no broker).
    OutboxEvent.objects.update(sent_at=F("occurred_at"), send_attempts=1)
    order.refresh_from_db()
    return {
        "order": order,
        "events": [created, succeeded, cancelled, refunded],
        "payments": payments,
        "delivery": delivery,
    }


def test_the_trail_lists_every_service_s_events_in_order_with_their_consumers(story):
    order = story["order"]

    result = trail.order_trail(order_id=order.pk)

    types = [(e["type"], e["service"]) for e in result["events"]]
    assert types == [
        ("order.created", "orders"),
        ("payment.succeeded", "payments"),
        ("order.status_changed", "orders"),
        ("order.cancelled", "orders"),
        ("payment.refunded", "payments"),
        ("order.status_changed", "orders"),
    ]
    consumers = {
        e["type"]: {
            c["queue"]: (c["state"], [h["handler"] for h in c["handled"]]) for c in e["consumers"]
        }
        for e in (result["events"][i] for i in (0, 1, 3, 4))
    }
    assert consumers["order.created"] == {
        "notifications": ("handled", ["notifications.handlers.notify_customer"])
    }
    assert consumers["payment.succeeded"] == {
        "orders": ("handled", ["orders.handlers.on_payment_succeeded"]),
        "notifications": ("handled", ["notifications.handlers.notify_customer"]),
    }
    assert consumers["order.cancelled"] == {
        "payments": ("handled", ["payments.handlers.refund_cancelled_order"]),
        "notifications": ("handled", ["notifications.handlers.notify_customer"]),
        "delivery": ("waiting", []),  # its part is missing: delivery is down
    }
    assert consumers["payment.refunded"] == {
        "orders": ("handled", ["orders.handlers.on_payment_refunded"]),
        "notifications": ("handled", ["notifications.handlers.notify_customer"]),
    }
    cancelled = result["events"][3]
    assert cancelled["consumers"][0]["flower_url"] == (
        f"/flower/task/{handle_task_id(cancelled['id'], 'payments')}"
    )


def test_each_service_is_asked_with_the_event_ids_known_so_far(story):
    order = story["order"]
    created, succeeded, cancelled, refunded = story["events"]

    trail.order_trail(order_id=order.pk)

    (payments_path,) = story["payments"].paths
    (delivery_path,) = story["delivery"].paths
    assert payments_path.startswith(f"/internal/orders/{order.pk}/trail?event=")
    assert created["id"] in payments_path and cancelled["id"] in payments_path
    assert succeeded["id"] not in payments_path
    assert succeeded["id"] in delivery_path and refunded["id"] in delivery_path


def test_the_trail_has_each_service_s_records_and_names_the_missing_part(story):
    order = story["order"]

    result = trail.order_trail(order_id=order.pk)

    assert result["order"]["status"] == "REFUNDED"
    assert result["order"]["links"] == {
        "order": f"/admin/orders/orders/order/{order.pk}/change/",
        "restaurant": f"/admin/catalog/catalog/restaurant/{RESTAURANT}/change/",
        "payments": f"/admin/payments/payments/payment/?order_id={order.pk}",
        "delivery": f"/admin/delivery/delivery/delivery/?order_id={order.pk}",
    }
    assert [s["to_status"] for s in result["status_history"]] == [
        "PLACED",
        "PAID",
        "CANCELLED",
        "REFUNDED",
    ]
    assert {n["event_type"] for n in result["notifications"]} == {
        "order.cancelled",
        "order.created",
        "payment.refunded",
        "payment.succeeded",
    }
    assert result["payments"] == [{"id": 7, "status": "REFUNDED", "refunds": [{"id": 3}]}]
    whats = [row["what"] for row in result["timeline"]]
    assert "status PAID → CANCELLED" in whats
    assert "payment 7 (REFUNDED now)" in whats
    assert "handled payment.succeeded" in whats
    # The events published here outside a request (as in this test: "-") make no request.
    assert [r["request_id"] for r in result["requests"]] == ["req-pay", "req-cancel"]
    assert result["unavailable"] == {"delivery": "no copy of delivery is reachable"}
    # The notifications are PENDING (no worker sends them in this test), delivery is down.
    assert (
        "delivery: its part of the trail is missing (no copy of delivery is reachable)"
        in (result["problems"])
    )
    assert any(
        p.startswith("order.cancelled of orders is not handled on queue delivery yet")
        for p in result["problems"]
    )


def test_a_dead_letter_and_an_unsent_event_are_problems(story):
    order = story["order"]
    created = story["events"][0]
    DeadLetter.objects.create(
        event_id=created["id"],
        event_type="order.created",
        handler="notifications.handlers.notify_customer",
        queue="notifications",
        envelope=created,
        error="SMTPException: no",
        attempts=6,
    )

    result = trail.order_trail(order_id=order.pk)

    assert result["events"][0]["consumers"][0]["state"] == "dead-lettered"
    assert any(p.startswith("order.created dead-lettered in orders") for p in result["problems"])
    assert not any("not sent" in problem for problem in result["problems"])


def test_an_event_the_broker_never_took_is_a_problem(story):
    order = story["order"]
    created = story["events"][0]
    OutboxEvent.objects.filter(pk=created["id"]).update(
        sent_at=None, send_attempts=3, last_error="ConnectionError: refused"
    )

    result = trail.order_trail(order_id=order.pk)

    assert result["events"][0]["sent_at"] is None
    assert (
        "order.created of orders is not sent yet: NOT SENT to notifications yet (3 attempt(s)): "
        "ConnectionError: refused"
    ) in result["problems"]


def test_a_part_refused_for_its_signature_is_missing_not_fatal(story):
    story["payments"].key = "another-deployment-key"
    order = story["order"]

    result = trail.order_trail(order_id=order.pk)

    assert set(result["unavailable"]) == {"payments", "delivery"}
    assert "403" in result["unavailable"]["payments"]
    assert "payments" not in result
    assert [e["service"] for e in result["events"]] == ["orders"] * 4


# -- GET /orders/{id}/trail --------------------------------------------------------------------


def test_staff_get_the_trail_as_json(story, admin):
    order = story["order"]

    response = admin.get(f"/orders/{order.pk}/trail")

    assert response.status_code == 200
    body = response.json()
    assert [e["type"] for e in body["events"]][:2] == ["order.created", "payment.succeeded"]
    assert body["order"]["id"] == order.pk


def test_only_staff_get_a_trail(story, customer, owner, admin, api_client):
    order = story["order"]
    url = f"/orders/{order.pk}/trail"

    assert customer.get(url).status_code == 403  # the order's own customer too
    assert owner.get(url).status_code == 403
    assert api_client.get(url).status_code == 401
    assert admin.get(f"/orders/{order.pk + 1000}/trail").status_code == 404
    assert admin.get(f"/orders/{2**63}/trail").status_code == 404


def test_the_trail_is_documented(api_client):
    schema = api_client.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    operation = schema["paths"]["/orders/{order_id}/trail"]["get"]
    assert set(operation["responses"]) == {"200", "401", "403", "404"}
    ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"] == "#/components/schemas/OrderTrail"
    event = schema["components"]["schemas"]["TrailEvent"]["properties"]
    assert {"type", "request_id", "send_attempts", "consumers"} <= set(event)


# -- the order's admin page ----------------------------------------------------------------------


def test_the_order_page_shows_the_trail_with_links_into_the_other_admins(story, admin_client):
    order = story["order"]
    cancelled = story["events"][2]

    page = admin_client.get(f"/admin/orders/orders/order/{order.pk}/change/")

    assert page.status_code == 200
    content = page.content.decode()
    assert 'id="trail-timeline"' in content
    for expected in (
        "payment.refunded",
        "orders.handlers.on_payment_refunded",
        "/admin/payments/payments/payment/7/change/",
        f"/admin/catalog/catalog/restaurant/{RESTAURANT}/change/",
        f"/admin/payments/payments/payment/?order_id={order.pk}",
        f"/flower/task/{handle_task_id(cancelled['id'], 'payments')}",
        "req-pay",
        "its part of the trail is missing",
    ):
        assert expected in content, expected


def test_the_page_of_an_order_that_does_not_exist_has_no_trail(admin_client):
    page = admin_client.get("/admin/orders/orders/order/987654321/change/")

    assert page.status_code == 302  # the admin says it does not exist

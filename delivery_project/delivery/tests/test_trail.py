"""The delivery part of an order's trail, served to the orders service over a signed internal path."""

import pytest

from delivery.models import DeliveryStatus
from delivery.tests.factories import PICKUP, RIDER, north_of, order_cancelled_data
from food_common.events.bus import dispatch
from food_common.events.signing import signed_request_headers
from food_common.testing import envelope

pytestmark = pytest.mark.django_db


def signed_get(client, order_id: int, *event_ids: str):
    url = f"/internal/orders/{order_id}/trail"
    if event_ids:
        url += "?" + "&".join(f"event={event_id}" for event_id in event_ids)
    return client.get(url, headers=signed_request_headers("GET", url))


def test_the_part_has_the_delivery_its_timeline_offers_events_and_the_handled_cancel(
    client, rider, working_rider, open_delivery
):
    working_rider(north_of(PICKUP, 1), user_id=RIDER)
    delivery = open_delivery(order_id=5)
    rider.post(f"/deliveries/{delivery.pk}/accept")
    cancelled = envelope("order.cancelled", order_cancelled_data(5))
    assert dispatch(cancelled, "delivery") == []

    response = signed_get(client, 5, cancelled["id"])

    assert response.status_code == 200, response.content
    part = response.json()
    assert part["service"] == "delivery"
    assert part["delivery"]["status"] == DeliveryStatus.CANCELLED
    assert part["delivery"]["url"] == f"/admin/delivery/delivery/delivery/{delivery.pk}/change/"
    assert [s["to_status"] for s in part["delivery"]["timeline"]] == [
        DeliveryStatus.SEARCHING,
        DeliveryStatus.ASSIGNED,
        DeliveryStatus.CANCELLED,
    ]
    assert [o["status"] for o in part["delivery"]["offers"]] == ["ACCEPTED"]
    assert "delivery.assigned" in [e["type"] for e in part["published"]]
    assert [(h["event_type"], h["queue"]) for h in part["handled"]] == [
        ("order.cancelled", "delivery")
    ]
    assert any(
        r["what"].startswith(f"offer {part['delivery']['offers'][0]['id']}")
        for r in part["records"]
    )
    assert part["problems"] == []


def test_an_order_cancelled_before_it_was_ready_has_no_delivery(client):
    dispatch(envelope("order.cancelled", order_cancelled_data(6)), "delivery")

    part = signed_get(client, 6).json()

    assert part["delivery"] is None
    assert [r["what"] for r in part["records"]] == [
        "no delivery: the order was cancelled before it was ready"
    ]


def test_an_unassigned_delivery_is_a_problem(client, open_delivery):
    delivery = open_delivery(order_id=7)  # no rider anywhere
    delivery.status = DeliveryStatus.UNASSIGNED
    delivery.save(update_fields=["status"])

    part = signed_get(client, 7).json()

    assert part["problems"] == [
        f"delivery {delivery.pk} is UNASSIGNED: no rider took it; an admin must assign one"
    ]


def test_the_part_needs_a_signed_request(client, admin):
    assert client.get("/internal/orders/5/trail").status_code == 403
    assert admin.get("/internal/orders/5/trail").status_code == 403


def test_a_delivery_page_links_its_order_and_an_order_s_delivery_is_one_link_away(
    admin_client, open_delivery
):
    delivery = open_delivery(order_id=8)
    open_delivery(order_id=9)

    page = admin_client.get(f"/admin/delivery/delivery/delivery/{delivery.pk}/change/")
    of_order = admin_client.get("/admin/delivery/delivery/delivery/", {"order_id": 8})

    assert page.status_code == 200
    assert b'href="/admin/orders/orders/order/8/change/"' in page.content
    # The orders admin links an order's delivery as this list (orders.trail.order_links).
    assert of_order.status_code == 200
    assert [d.pk for d in of_order.context["cl"].result_list] == [delivery.pk]

"""GET /orders and GET /orders/{id}: who sees which orders; newest first; no N+1."""

import pytest

from orders.models import OrderStatus
from orders.tests.factories import (
    CUSTOMER,
    OTHER_CUSTOMER,
    OTHER_OWNER,
    OTHER_RESTAURANT,
    OrderFactory,
)

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    assert response.status_code == 200, response.json()
    return [order["id"] for order in response.json()["results"]]


@pytest.fixture
def orders():
    """Three orders of CUSTOMER at OWNER's restaurant, one of OTHER_CUSTOMER at OTHER_OWNER's."""
    mine = OrderFactory.create_batch(3)
    theirs = OrderFactory(
        customer_id=OTHER_CUSTOMER,
        restaurant_id=OTHER_RESTAURANT,
        restaurant_owner_id=OTHER_OWNER,
    )
    return mine, theirs


def test_a_customer_lists_their_own_orders_newest_first(customer, orders):
    mine, _ = orders
    assert ids(customer.get("/orders")) == [o.id for o in reversed(mine)]


def test_an_owner_lists_the_orders_of_their_restaurants(owner, other_owner, orders):
    mine, theirs = orders
    assert ids(owner.get("/orders")) == [o.id for o in reversed(mine)]
    assert ids(other_owner.get("/orders")) == [theirs.id]


def test_an_admin_lists_every_order(admin, orders):
    mine, theirs = orders
    assert ids(admin.get("/orders")) == [theirs.id, *[o.id for o in reversed(mine)]]


def test_another_role_sees_no_orders(api_client_as, orders):
    assert ids(api_client_as(CUSTOMER, "courier").get("/orders")) == []


def test_the_list_is_a_page_with_items(customer, orders):
    body = customer.get("/orders").json()

    assert body["count"] == 3
    assert body["next"] is None
    first = body["results"][0]
    assert set(first) == {
        "id", "status", "payable", "customer_id", "restaurant_id", "items", "subtotal", "total",
        "currency", "refund_pending", "delivery_address", "delivery_lat", "delivery_lon",
        "pickup_lat", "pickup_lon", "created_at", "updated_at",
    }  # fmt: skip
    assert first["items"] == [
        {"menu_item_id": 1, "name": "Margherita", "unit_price": "9.50", "quantity": 2,
         "line_total": "19.00"}
    ]  # fmt: skip


def test_the_list_is_paginated(customer):
    OrderFactory.create_batch(23)

    first = customer.get("/orders").json()
    second = customer.get("/orders", {"page": 2}).json()

    assert (first["count"], len(first["results"]), len(second["results"])) == (23, 20, 3)
    assert first["next"].endswith("/orders?page=2")
    assert not set(ids(customer.get("/orders"))) & {o["id"] for o in second["results"]}


def test_the_list_filters_by_status(customer):
    OrderFactory()
    paid = OrderFactory(status=OrderStatus.PAID)

    assert ids(customer.get("/orders", {"status": "PAID"})) == [paid.id]


@pytest.mark.parametrize(
    ("params", "field"), [({"status": "EATEN"}, "status"), ({"colour": "red"}, "colour")]
)
def test_bad_query_parameters_are_400(customer, params, field):
    response = customer.get("/orders", params)

    assert response.status_code == 400
    assert field in response.json()["errors"]


def test_the_list_takes_three_queries_however_many_orders(customer, django_assert_num_queries):
    OrderFactory.create_batch(15)

    with django_assert_num_queries(3):  # count, page, the page's items
        assert len(ids(customer.get("/orders"))) == 15


def test_the_detail_carries_items_and_status_history(customer, django_assert_num_queries):
    order = OrderFactory(status=OrderStatus.PAID)

    with django_assert_num_queries(3):
        response = customer.get(f"/orders/{order.id}")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == order.id
    assert body["status"] == "PAID"
    assert len(body["items"]) == 1
    assert [(h["from_status"], h["to_status"]) for h in body["status_history"]] == [
        ("", "PLACED"),
        ("PLACED", "PAID"),
    ]


@pytest.mark.parametrize("status", list(OrderStatus), ids=lambda s: s.value)
def test_an_order_is_payable_only_while_a_payment_may_still_make_it_paid(customer, status):
    order = OrderFactory(status=status)

    detail = customer.get(f"/orders/{order.id}").json()
    listed = customer.get("/orders").json()["results"][0]

    # The design's statuses a payment starts from, written out independently of the state machine.
    expected = status in (OrderStatus.PLACED, OrderStatus.PAYMENT_FAILED)
    assert detail["payable"] is expected
    assert listed["payable"] is expected


@pytest.mark.parametrize("reader", ["customer", "owner", "admin"])
def test_its_customer_owner_and_admins_read_an_order(request, reader):
    order = OrderFactory()
    assert request.getfixturevalue(reader).get(f"/orders/{order.id}").status_code == 200


@pytest.mark.parametrize("reader", ["other_customer", "other_owner"])
def test_anyone_else_gets_404_as_if_it_did_not_exist(request, reader):
    order = OrderFactory()

    response = request.getfixturevalue(reader).get(f"/orders/{order.id}")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("order_id", [999999, 2**63, 10**30])
def test_an_unknown_order_is_404(customer, order_id):
    assert customer.get(f"/orders/{order_id}").status_code == 404


def test_reading_needs_a_token(api_client):
    order = OrderFactory()
    reply = api_client.get("/orders")
    assert reply.status_code == 401
    assert reply.json()["code"] == "not_authenticated"
    assert reply["WWW-Authenticate"].startswith("Bearer")
    assert api_client.get(f"/orders/{order.id}").status_code == 401

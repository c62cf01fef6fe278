"""POST /orders: pricing by the catalog, validation, the outbox event, idempotency."""

from decimal import Decimal

import pytest

from food_common.events.models import OutboxEvent
from food_common.http import UpstreamError
from orders import placing, services
from orders.errors import OrderRejected
from orders.models import Order, OrderStatus
from orders.tests.factories import CUSTOMER, OTHER_CUSTOMER, OWNER, PICKUP, RESTAURANT

pytestmark = pytest.mark.django_db

BODY = {
    "restaurant_id": RESTAURANT,
    "items": [
        {"menu_item_id": 1, "quantity": 2},
        {"menu_item_id": 2, "quantity": 1},
        {"menu_item_id": 3, "quantity": 3},
    ],
    "delivery_address": "1 Canal St, Amsterdam",
    "delivery_lat": 52.3738,
    "delivery_lon": 4.8910,
}


def place(client, body=BODY, **headers):
    return client.post("/orders", body, format="json", **headers)


def with_items(*items, **changes) -> dict:
    lines = [{"menu_item_id": i, "quantity": q} for i, q in items]
    return {**BODY, "items": lines, **changes}


def assert_nothing_written():
    assert Order.objects.count() == 0
    assert OutboxEvent.objects.count() == 0


@pytest.mark.produces("order.created")
def test_place_prices_the_order_from_the_catalog_and_writes_the_event(customer, catalog):
    response = place(customer)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "PLACED"
    assert body["restaurant_id"] == RESTAURANT
    assert body["customer_id"] == CUSTOMER
    assert body["delivery_address"] == BODY["delivery_address"]
    assert (body["delivery_lat"], body["delivery_lon"]) == (52.3738, 4.8910)
    assert (body["pickup_lat"], body["pickup_lon"]) == PICKUP  # the restaurant's, from the catalog
    assert body["delivery"] is None  # until the order is ready and a delivery opens
    assert body["items"] == [
        {"menu_item_id": 1, "name": "Margherita", "unit_price": "9.50", "quantity": 2,
         "line_total": "19.00"},
        {"menu_item_id": 2, "name": "Tiramisu", "unit_price": "4.25", "quantity": 1,
         "line_total": "4.25"},
        {"menu_item_id": 3, "name": "Lemonade", "unit_price": "2.99", "quantity": 3,
         "line_total": "8.97"},
    ]  # fmt: skip
    assert body["subtotal"] == body["total"] == "32.22"
    assert body["currency"] == "EUR"
    assert [
        (h["from_status"], h["to_status"], h["by_user_id"]) for h in body["status_history"]
    ] == [("", "PLACED", CUSTOMER)]

    order = Order.objects.get(pk=body["id"])
    assert (order.delivery_lat, order.delivery_lon, order.pickup_lat, order.pickup_lon) == (
        52.3738,
        4.8910,
        *PICKUP,
    )
    assert order.customer_email == f"user{CUSTOMER}@example.com"
    assert order.restaurant_owner_id == OWNER
    assert order.total == Decimal("32.22")
    assert order.idempotency_key is None

    # One catalog call for every line, with the caller's token forwarded.
    assert len(catalog.calls) == 1
    assert catalog.calls[0]["restaurant_id"] == RESTAURANT
    assert sorted(catalog.calls[0]["ids"]) == [1, 2, 3]
    assert catalog.calls[0]["token"] == customer._credentials["HTTP_AUTHORIZATION"].split()[1]

    event = OutboxEvent.objects.get()
    assert event.type == "order.created"
    assert event.producer == "orders"
    assert event.data == {
        "order_id": order.pk,
        "customer_id": CUSTOMER,
        "customer_email": f"user{CUSTOMER}@example.com",
        "restaurant_id": RESTAURANT,
        "restaurant_owner_id": OWNER,
        "items": [
            {"menu_item_id": 1, "name": "Margherita", "unit_price": "9.50", "quantity": 2,
             "line_total": "19.00"},
            {"menu_item_id": 2, "name": "Tiramisu", "unit_price": "4.25", "quantity": 1,
             "line_total": "4.25"},
            {"menu_item_id": 3, "name": "Lemonade", "unit_price": "2.99", "quantity": 3,
             "line_total": "8.97"},
        ],
        "subtotal": "32.22",
        "total": "32.22",
        "currency": "EUR",
    }  # fmt: skip


def test_prices_come_from_the_catalog_never_from_the_client(customer, catalog):
    body = with_items((1, 1))
    body["items"][0]["unit_price"] = "0.01"
    body["total"] = "0.01"

    response = place(customer, body)

    assert response.status_code == 201
    assert response.json()["total"] == "9.50"


def test_unit_prices_are_rounded_to_cents(customer, catalog):
    catalog.add_item(RESTAURANT, 6, "Odd price", "1.005")

    response = place(customer, with_items((6, 3)))

    assert response.status_code == 201
    assert response.json()["items"][0]["unit_price"] == "1.00"
    assert response.json()["total"] == "3.00"


def test_an_order_in_another_currency_keeps_it(customer, catalog):
    response = place(customer, with_items((5, 2)))

    assert response.status_code == 201
    assert (response.json()["currency"], response.json()["total"]) == ("GBP", "7.00")


@pytest.mark.parametrize(
    ("body", "code", "errors"),
    [
        pytest.param(
            with_items((1, 1), (99, 1)),
            "menu_items_invalid",
            {"items": {"1": {"menu_item_id": ["Menu item 99 is not on this restaurant's menu."]}}},
            id="unknown item",
        ),
        pytest.param(
            with_items((9, 1)),
            "menu_items_invalid",
            {"items": {"0": {"menu_item_id": ["Menu item 9 is not on this restaurant's menu."]}}},
            id="another restaurant's item",
        ),
        pytest.param(
            with_items((1, 1), (2, 1), (4, 1)),
            "menu_items_invalid",
            {
                "items": {
                    "2": {
                        "menu_item_id": ["Truffle pasta (menu item 4) is not available right now."]
                    }
                }
            },
            id="unavailable item",
        ),
        pytest.param(
            with_items((1, 1), (5, 1)),
            "menu_items_invalid",
            {
                "items": {
                    "1": {
                        "menu_item_id": [
                            "Imported ale is priced in GBP but this order is in EUR; "
                            "order it separately."
                        ]
                    }
                }
            },
            id="two currencies",
        ),
        pytest.param(
            with_items((1, 1), (99, 1), (4, 1)),
            "menu_items_invalid",
            {
                "items": {
                    "1": {"menu_item_id": ["Menu item 99 is not on this restaurant's menu."]},
                    "2": {
                        "menu_item_id": ["Truffle pasta (menu item 4) is not available right now."]
                    },
                }
            },
            id="every bad line named",
        ),
        pytest.param(
            with_items((1, 1), restaurant_id=999),
            "restaurant_not_found",
            {"restaurant_id": ["Restaurant 999 does not exist."]},
            id="unknown restaurant",
        ),
        pytest.param(
            with_items((1, 1), (3, 2), (1, 4)),
            "invalid",
            {
                "items": {
                    "2": {
                        "menu_item_id": [
                            "Menu item 1 is already on line 0; order it once with the total "
                            "quantity."
                        ]
                    }
                }
            },
            id="duplicate line",
        ),
        pytest.param(
            with_items((1, 0)),
            "invalid",
            {"items": {"0": {"quantity": ["Ensure this value is greater than or equal to 1."]}}},
            id="quantity 0",
        ),
        pytest.param(
            with_items((1, 1), (2, 51)),
            "invalid",
            {"items": {"1": {"quantity": ["Ensure this value is less than or equal to 50."]}}},
            id="quantity 51",
        ),
        pytest.param(
            with_items(*[(n, 1) for n in range(1, 52)]),
            "invalid",
            {"items": ["Ensure this field has no more than 50 elements."]},
            id="51 lines",
        ),
        pytest.param(
            with_items(),
            "invalid",
            {"items": ["Ensure this field has at least 1 elements."]},
            id="no lines",
        ),
        pytest.param(
            {"restaurant_id": "x", "items": "1", "delivery_address": ""},
            "invalid",
            {
                "restaurant_id": ["A valid integer is required."],
                "items": ['Expected a list of items but got type "str".'],
                "delivery_address": ["This field may not be blank."],
                "delivery_lat": ["This field is required."],
                "delivery_lon": ["This field is required."],
            },
            id="wrong types",
        ),
        pytest.param(
            with_items((1, 1), delivery_lat=85.06, delivery_lon=-180.01),
            "invalid",
            {
                "delivery_lat": ["Ensure this value is less than or equal to 85.05112878."],
                "delivery_lon": ["Ensure this value is greater than or equal to -180.0."],
            },
            id="position out of range",
        ),
        pytest.param(
            with_items((1, 1), delivery_lat="NaN", delivery_lon=None),
            "invalid",
            {
                "delivery_lat": ["A valid number is required."],
                "delivery_lon": ["This field may not be null."],
            },
            id="position not a number",
        ),
        pytest.param(
            with_items((1, 1), (-3, 1)),
            "invalid",
            {
                "items": {
                    "1": {"menu_item_id": ["Ensure this value is greater than or equal to 1."]}
                }
            },
            id="negative item id",
        ),
    ],
)
def test_invalid_orders_are_refused_with_the_wrong_line_named(
    customer, catalog, body, code, errors
):
    response = place(customer, body)

    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["errors"] == errors
    assert_nothing_written()


def test_a_restaurant_without_a_position_takes_no_orders(customer, catalog):
    # created before restaurants had positions: no rider could find it
    catalog.add_restaurant(RESTAURANT, owner_id=OWNER, position=None)

    response = place(customer)

    assert response.status_code == 400
    assert response.json()["code"] == "restaurant_without_position"
    assert response.json()["errors"] == {
        "restaurant_id": [f"Restaurant {RESTAURANT} has no position, so no rider can find it."]
    }
    assert_nothing_written()


def test_a_closed_restaurant_takes_no_orders(customer, catalog):
    catalog.add_restaurant(RESTAURANT, owner_id=OWNER, is_open=False)

    response = place(customer)

    assert response.status_code == 400
    assert response.json()["code"] == "restaurant_closed"
    assert response.json()["errors"] == {
        "restaurant_id": [f"Restaurant {RESTAURANT} is closed and takes no orders now."]
    }
    assert_nothing_written()


@pytest.mark.parametrize(
    ("items", "errors"),
    [
        ([], {"items": ["Order at least one item."]}),
        ([{"menu_item_id": n, "quantity": 1} for n in range(1, 52)],
         {"items": ["An order has at most 50 lines."]}),
        ([{"menu_item_id": 1, "quantity": 51}],
         {"items": {"0": {"quantity": ["Order between 1 and 50 of an item."]}}}),
        ([{"menu_item_id": 1, "quantity": 0}],
         {"items": {"0": {"quantity": ["Order between 1 and 50 of an item."]}}}),
    ],
)  # fmt: skip
def test_the_service_checks_the_lines_itself(catalog, items, errors):
    with pytest.raises(OrderRejected) as refused:
        services.order_place(
            customer_id=CUSTOMER,
            customer_email="c@example.com",
            restaurant_id=RESTAURANT,
            items=items,
            delivery_address="Somewhere",
            delivery_lat=52.53,
            delivery_lon=13.4,
            catalog=catalog,
        )
    assert refused.value.extra["errors"] == errors
    assert catalog.calls == []  # refused before asking the catalog
    assert_nothing_written()


def test_the_service_accepts_an_injected_catalog(catalog):
    order, created = services.order_place(
        customer_id=CUSTOMER,
        customer_email="c@example.com",
        restaurant_id=RESTAURANT,
        items=[{"menu_item_id": 2, "quantity": 4}],
        delivery_address="Somewhere",
        delivery_lat=52.53,
        delivery_lon=13.4,
        catalog=catalog,
    )
    assert created
    assert (order.status, order.total, order.items.get().line_total) == (
        OrderStatus.PLACED,
        Decimal("17.00"),
        Decimal("17.00"),
    )


@pytest.mark.parametrize(
    ("kind", "code"), [("unavailable", "upstream_unavailable"), ("timeout", "upstream_timeout")]
)
def test_catalog_down_is_503_and_no_order(customer, catalog, kind, code):
    catalog.error = UpstreamError("catalog", kind, "no copy of catalog is reachable")

    response = place(customer)

    assert response.status_code == 503
    assert response.json()["code"] == code
    assert response.json()["service"] == "catalog"
    assert_nothing_written()


@pytest.mark.parametrize(
    "answer",
    [
        {"restaurant": {"id": RESTAURANT}, "results": []},
        {"restaurant": {"id": 999, "owner_id": 1, "is_open": True}, "results": []},
        {
            "restaurant": {"id": RESTAURANT, "owner_id": OWNER, "is_open": True},
            "results": [{"id": 1, "name": "X", "price": "abc", "currency": "EUR",
                         "is_available": True}],
        },
        {
            "restaurant": {"id": RESTAURANT, "owner_id": OWNER, "is_open": True},
            "results": [{"id": 1, "name": "X", "price": "0.00", "currency": "EUR",
                         "is_available": True}],
        },
    ],
)  # fmt: skip
def test_an_unusable_catalog_answer_is_502_and_no_order(customer, catalog, answer):
    catalog.answer = answer

    response = place(customer)

    assert response.status_code == 502
    assert response.json()["code"] == "bad_gateway"
    assert_nothing_written()


def test_no_order_and_no_event_when_the_transaction_rolls_back(customer, catalog, monkeypatch):
    real_publish = placing.publish

    def publish_then_fail(event_type, data):
        real_publish(event_type, data)
        raise RuntimeError("the database went away mid-transaction")

    monkeypatch.setattr(placing, "publish", publish_then_fail)

    with pytest.raises(RuntimeError):
        services.order_place(
            customer_id=CUSTOMER,
            customer_email="c@example.com",
            restaurant_id=RESTAURANT,
            items=[{"menu_item_id": 1, "quantity": 1}],
            delivery_address="Somewhere",
            delivery_lat=52.53,
            delivery_lon=13.4,
        )
    assert_nothing_written()


@pytest.mark.parametrize("role", ["restaurant_owner", "admin", "courier"])
def test_only_customers_place_orders(api_client_as, catalog, role):
    response = place(api_client_as(OWNER, role))

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert_nothing_written()


def test_placing_needs_a_token(api_client, catalog):
    response = place(api_client)

    assert response.status_code == 401
    assert_nothing_written()


# -- Idempotency-Key ---------------------------------------------------------------------------


def test_a_repeated_key_with_the_same_body_returns_the_first_order(customer, catalog):
    first = place(customer, HTTP_IDEMPOTENCY_KEY="order-attempt-1")
    again = place(customer, HTTP_IDEMPOTENCY_KEY="order-attempt-1")

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json() == first.json()
    assert Order.objects.count() == 1
    assert OutboxEvent.objects.filter(type="order.created").count() == 1
    assert len(catalog.calls) == 1  # the replay is answered without pricing again
    order = Order.objects.get()
    assert order.idempotency_key == "order-attempt-1"
    assert len(order.request_fingerprint) == 64


def test_a_repeated_key_with_another_body_is_422(customer, catalog):
    first = place(customer, HTTP_IDEMPOTENCY_KEY="k-1")
    other = place(customer, with_items((1, 5)), HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 201
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["order_id"] == first.json()["id"]
    assert Order.objects.count() == 1
    assert OutboxEvent.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"delivery_address": "2 Canal St, Amsterdam"},
        {"delivery_lat": 52.3739},
        {"items": list(reversed(BODY["items"]))},
        {"restaurant_id": RESTAURANT + 1},
    ],
)
def test_any_change_of_the_body_counts_as_another_body(customer, catalog, change):
    assert place(customer, HTTP_IDEMPOTENCY_KEY="k-2").status_code == 201
    assert place(customer, {**BODY, **change}, HTTP_IDEMPOTENCY_KEY="k-2").status_code == 422


def test_keys_are_per_customer(customer, other_customer, catalog):
    mine = place(customer, HTTP_IDEMPOTENCY_KEY="same-key")
    theirs = place(other_customer, HTTP_IDEMPOTENCY_KEY="same-key")

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert theirs.json()["customer_id"] == OTHER_CUSTOMER


def test_without_a_key_every_request_is_a_new_order(customer, catalog):
    assert place(customer).status_code == 201
    assert place(customer).status_code == 201
    assert Order.objects.count() == 2


@pytest.mark.parametrize("key", ["", "   ", "x" * 256, "tab\tinside"])
def test_a_blank_long_or_unprintable_key_is_refused(customer, catalog, key):
    response = place(customer, HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert response.json()["errors"] == {
        "Idempotency-Key": ["The Idempotency-Key header must be 1 to 255 printable characters."]
    }
    assert_nothing_written()


def test_a_failed_attempt_does_not_use_up_the_key(customer, catalog):
    catalog.error = UpstreamError("catalog", "unavailable", "down")
    assert place(customer, HTTP_IDEMPOTENCY_KEY="retry-me").status_code == 503

    catalog.error = None
    assert place(customer, HTTP_IDEMPOTENCY_KEY="retry-me").status_code == 201


def test_the_201_answer_is_what_a_read_gives_without_reading_the_order_back(
    customer, catalog, django_assert_num_queries
):
    # The transaction (a savepoint inside the test's own) and its release, the order, the items,
    # the status change, the outbox row. No SELECT of what was just written, and no savepoint
    # around the order's insert when there is no Idempotency-Key to catch a duplicate of.
    with django_assert_num_queries(6) as captured:
        placed = place(customer, with_items((1, 2), (3, 1)))
    assert placed.status_code == 201, placed.json()
    assert not [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT")]

    read = customer.get(f"/orders/{placed.json()['id']}")
    assert read.status_code == 200
    assert placed.json() == read.json()

"""The catalog and delivery clients' reading of their answers (no network: a stand-in
ServiceClient)."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from food_common.http import ServiceResponse, UpstreamError
from orders import clients


class StubService:
    def __init__(self, status: int, body):
        self.status = status
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.requests = []

    def request(self, method, path, *, token=None, **kwargs):
        self.requests.append((method, path, token))
        return ServiceResponse("catalog", self.status, self.body, {})


MENU = {"restaurant": {"id": 3, "owner_id": 7, "name": "R", "is_open": True, "lat": 52.5,
                       "lon": 13.4}, "count": 2,
        "results": [
            {"id": 2, "restaurant_id": 3, "name": "Soup", "description": "", "category": "Starters",
             "price": "4.50", "currency": "EUR", "is_available": True},
            {"id": 9, "restaurant_id": 3, "name": "Cake", "description": "", "category": "Desserts",
             "price": "3", "currency": "EUR", "is_available": False},
        ]}  # fmt: skip


def test_one_call_with_every_id_and_the_token_read_into_an_offer():
    service = StubService(200, MENU)

    offer = clients.CatalogClient(service).menu_offer(restaurant_id=3, ids=[9, 2, 9, 5], token="t")

    assert service.requests == [("GET", "/restaurants/3/menu?ids=2,5,9", "t")]
    assert offer == clients.MenuOffer(
        restaurant_owner_id=7,
        restaurant_is_open=True,
        items={
            2: clients.MenuItem(name="Soup", price=Decimal("4.50"), currency="EUR",
                                is_available=True),
            9: clients.MenuItem(name="Cake", price=Decimal("3"), currency="EUR",
                                is_available=False),
        },
        restaurant_position=clients.Point(52.5, 13.4),
    )  # fmt: skip


@pytest.mark.parametrize(
    "position", [{"lat": None, "lon": None}, {"lat": None, "lon": None, "extra": 1}]
)
def test_a_restaurant_without_a_position_is_read_as_none(position):
    menu = {**MENU, "restaurant": {**MENU["restaurant"], **position}}

    offer = clients.CatalogClient(StubService(200, menu)).menu_offer(
        restaurant_id=3, ids=[2], token=None
    )

    assert offer.restaurant_position is None


def _menu(restaurant=None, **item) -> dict:
    """MENU with its restaurant's fields and its first item's fields changed (None drops one)."""
    menu = json.loads(json.dumps(MENU))
    for fields, changes in ((menu["restaurant"], restaurant or {}), (menu["results"][0], item)):
        for key, value in changes.items():
            if value is None:
                del fields[key]
            else:
                fields[key] = value
    return menu


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"results": []}, id="no restaurant"),
        pytest.param({"restaurant": MENU["restaurant"]}, id="no results"),
        pytest.param({**MENU, "results": {"id": 2}}, id="results not a list"),
        pytest.param(_menu({"id": 4}), id="another restaurant"),
        pytest.param(_menu({"owner_id": None}), id="no owner"),
        pytest.param(_menu({"owner_id": "seven"}), id="owner not an id"),
        pytest.param(_menu(price=None), id="no price"),
        pytest.param(_menu(price="abc"), id="price not a number"),
        pytest.param(_menu(price="0.00"), id="free"),
        pytest.param(_menu(price="-1"), id="negative price"),
        pytest.param(_menu(price="NaN"), id="price NaN"),
        pytest.param(_menu(price="Infinity"), id="infinite price"),
        pytest.param(_menu(id="two"), id="item id not an id"),
        pytest.param(_menu(currency=None), id="no currency"),
        pytest.param(_menu({"lat": "north"}), id="lat not a number"),
        pytest.param(_menu({"lat": 91.0}), id="lat out of range"),
        pytest.param(_menu({"lon": -180.5}), id="lon out of range"),
        pytest.param(_menu({"lon": True}), id="lon a boolean"),
        pytest.param(_menu({"lat": 52.5, "lon": None}), id="half a position"),
    ],
)
def test_a_menu_of_another_shape_is_a_bad_answer(answer):
    with pytest.raises(clients.CatalogBadAnswer):
        clients.CatalogClient(StubService(200, answer)).menu_offer(
            restaurant_id=3, ids=[2], token=None
        )


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, {"detail": "Restaurant not found.", "code": "not_found"}, clients.RestaurantNotFound),
        (500, {"detail": "boom"}, UpstreamError),
        (503, b"<html>", UpstreamError),
        (400, {"detail": "bad ids"}, clients.CatalogBadAnswer),
        (401, {"detail": "no"}, clients.CatalogBadAnswer),
        (200, b"not json", clients.CatalogBadAnswer),
        (200, [1, 2], clients.CatalogBadAnswer),
    ],
)
def test_answers_other_than_a_menu_raise(status, body, error):
    with pytest.raises(error):
        clients.CatalogClient(StubService(status, body)).menu_offer(
            restaurant_id=3, ids=[1], token=None
        )


def test_the_client_is_built_once_from_the_settings(settings):
    settings.CATALOG_SERVICE_URLS = ["http://cat-1:4002", "http://cat-2:4002/"]
    settings.SERVICE_READ_TIMEOUT = 2.5
    clients.catalog_client.cache_clear()
    try:
        client = clients.catalog_client()
        assert clients.catalog_client() is client
        assert [u.base_url for u in client.service.upstreams.upstreams] == [
            "http://cat-1:4002",
            "http://cat-2:4002",
        ]
        assert client.service.pool.connection_pool_kw["timeout"].read_timeout == 2.5
    finally:
        clients.catalog_client.cache_clear()


# -- the delivery service -----------------------------------------------------------------------

DELIVERY = {"id": 41, "order_id": 9, "status": "PICKED_UP",
            "rider": {"name": "Rita", "vehicle_type": "scooter"},
            "rider_position": {"lat": 52.52, "lon": 13.41, "at": "2026-01-02T12:00:05Z"}}  # fmt: skip


def test_the_rider_position_is_one_call_with_the_callers_token():
    service = StubService(200, DELIVERY)

    position = clients.DeliveryClient(service).rider_position(delivery_id=41, token="t")

    assert service.requests == [("GET", "/deliveries/41", "t")]
    assert position == clients.RiderPosition(
        lat=52.52, lon=13.41, at=datetime(2026, 1, 2, 12, 0, 5, tzinfo=UTC)
    )


def test_a_delivery_showing_no_position_is_none():
    service = StubService(200, {**DELIVERY, "rider_position": None})

    assert clients.DeliveryClient(service).rider_position(delivery_id=41, token="t") is None


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (200, {**DELIVERY, "id": 42}, clients.DeliveryBadAnswer),
        (200, {k: v for k, v in DELIVERY.items() if k != "rider_position"},
         clients.DeliveryBadAnswer),
        (200, {**DELIVERY, "rider_position": {"lat": 52.5, "lon": 13.4}},
         clients.DeliveryBadAnswer),
        (200, {**DELIVERY, "rider_position": {"lat": 95, "lon": 13.4, "at": "2026-01-02T12:00Z"}},
         clients.DeliveryBadAnswer),
        (200, {**DELIVERY, "rider_position": {"lat": 52.5, "lon": 13.4, "at": "yesterday"}},
         clients.DeliveryBadAnswer),
        (404, {"detail": "Not found.", "code": "not_found"}, clients.DeliveryBadAnswer),
        (401, {"detail": "no"}, clients.DeliveryBadAnswer),
        (500, {"detail": "boom"}, UpstreamError),
        (200, b"not json", clients.DeliveryBadAnswer),
    ],
)  # fmt: skip
def test_answers_other_than_a_delivery_raise(status, body, error):
    with pytest.raises(error):
        clients.DeliveryClient(StubService(status, body)).rider_position(delivery_id=41, token="t")


def test_the_delivery_client_is_built_once_from_the_settings_or_not_at_all(settings, monkeypatch):
    monkeypatch.undo()  # the real one, not conftest's stand-in
    clients.delivery_client.cache_clear()
    try:
        settings.DELIVERY_SERVICE_URLS = ["http://delivery-1:4005"]
        client = clients.delivery_client()
        assert clients.delivery_client() is client
        assert [u.base_url for u in client.service.upstreams.upstreams] == [
            "http://delivery-1:4005"
        ]
        clients.delivery_client.cache_clear()
        settings.DELIVERY_SERVICE_URLS = []  # not deployed: no position is ever shown
        assert clients.delivery_client() is None
    finally:
        clients.delivery_client.cache_clear()

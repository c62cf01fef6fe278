"""The catalog client's reading of the catalog's answers (no network: a stand-in ServiceClient)."""

import json

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


MENU = {"restaurant": {"id": 3, "owner_id": 7, "name": "R", "is_open": True}, "count": 0,
        "results": []}  # fmt: skip


def test_one_call_with_every_id_and_the_token():
    service = StubService(200, MENU)

    menu = clients.CatalogClient(service).menu_items(restaurant_id=3, ids=[9, 2, 9, 5], token="t")

    assert menu == MENU
    assert service.requests == [("GET", "/restaurants/3/menu?ids=2,5,9", "t")]


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
        clients.CatalogClient(StubService(status, body)).menu_items(
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

"""Who may write what: anonymous 401, customers 403, owners only their own restaurants, admins any."""

import pytest

from catalog.models import MenuItem, Restaurant
from catalog.tests.factories import OWNER, MenuItemFactory, RestaurantFactory

pytestmark = pytest.mark.django_db

RESTAURANT = {
    "name": "Noodle Bar",
    "cuisine": "thai",
    "address": "3 River Rd",
    "lat": 52.52,
    "lon": 13.41,
}
ITEM = {"name": "Pad See Ew", "price": "11.00"}

# endpoint: (method, path, body, expected status for anonymous, customer, owner A, owner B, admin)
MATRIX = {
    "create restaurant": ("post", "/restaurants", RESTAURANT, (401, 403, 201, 201, 201)),
    "update restaurant": (
        "patch",
        "/restaurants/{r}",
        {"is_open": False},
        (401, 403, 200, 403, 200),
    ),
    "delete restaurant": ("delete", "/restaurants/{r}", None, (401, 403, 204, 403, 204)),
    "create item": ("post", "/restaurants/{r}/menu", ITEM, (401, 403, 201, 403, 201)),
    "update item": (
        "patch",
        "/restaurants/{r}/menu/{i}",
        {"price": "2"},
        (401, 403, 200, 403, 200),
    ),
    "delete item": ("delete", "/restaurants/{r}/menu/{i}", None, (401, 403, 204, 403, 204)),
}
CALLERS = ["anonymous", "customer", "owner", "other_owner", "admin"]


@pytest.mark.parametrize("caller_index,caller", list(enumerate(CALLERS)))
@pytest.mark.parametrize("endpoint", MATRIX)
def test_write_permissions(request, endpoint, caller_index, caller):
    method, path, body, expected = MATRIX[endpoint]
    restaurant = RestaurantFactory(owner_id=OWNER)
    item = MenuItemFactory(restaurant=restaurant)
    before = (
        list(Restaurant.objects.values().order_by("id")),
        list(MenuItem.objects.values().order_by("id")),
    )
    client = request.getfixturevalue("api_client" if caller == "anonymous" else caller)

    response = getattr(client, method)(path.format(r=restaurant.id, i=item.id), body, format="json")

    assert response.status_code == expected[caller_index], response.content
    if response.status_code >= 400:
        assert {"detail", "code"} <= set(response.json())
        after = (
            list(Restaurant.objects.values().order_by("id")),
            list(MenuItem.objects.values().order_by("id")),
        )
        assert after == before  # a refused write changes nothing


@pytest.mark.parametrize("path", ["/restaurants", "/restaurants/{r}", "/restaurants/{r}/menu"])
def test_reads_are_public(api_client, customer, path):
    restaurant = RestaurantFactory()
    for client in (api_client, customer):
        assert client.get(path.format(r=restaurant.id)).status_code == 200


def test_an_invalid_token_is_401_even_on_public_reads(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    response = api_client.get("/restaurants")
    assert response.status_code == 401
    assert response.json()["code"] == "token_not_valid"

"""Bad input is a 400 (or 404) JSON error with "detail" and "code", never a 500."""

import pytest

from catalog.tests.factories import MenuItemFactory, RestaurantFactory

pytestmark = pytest.mark.django_db

VALID_RESTAURANT = {
    "name": "Noodle Bar",
    "cuisine": "thai",
    "address": "3 River Rd",
    "lat": 52.52,
    "lon": 13.41,
}
VALID_ITEM = {"name": "Pad See Ew", "price": "11.00"}


def assert_error(response, status=400, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert {"detail", "code"} <= set(body)
    if field:
        assert field in body["errors"]


@pytest.mark.parametrize(
    "price", ["-1", "0", "0.00", "abc", "", None, "1.234", "1e10", "NaN", "Infinity", "1000000"]
)
def test_bad_prices_are_refused(owner, price):
    restaurant = RestaurantFactory()
    item = MenuItemFactory(restaurant=restaurant)

    created = owner.post(
        f"/restaurants/{restaurant.id}/menu", {**VALID_ITEM, "price": price}, format="json"
    )
    patched = owner.patch(
        f"/restaurants/{restaurant.id}/menu/{item.id}", {"price": price}, format="json"
    )

    assert_error(created, field="price")
    assert_error(patched, field="price")


@pytest.mark.parametrize(
    "change,field",
    [
        ({"name": "x" * 121}, "name"),
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "nul\x00byte"}, "name"),
        ({"description": "x" * 2001}, "description"),
        ({"address": "x" * 301}, "address"),
        ({"cuisine": "klingon"}, "cuisine"),
        ({"is_open": "maybe"}, "is_open"),
        ({"lat": 85.06, "lon": 0}, "lat"),
        ({"lat": -90, "lon": 0}, "lat"),
        ({"lat": 0, "lon": 180.5}, "lon"),
        ({"lat": 0, "lon": -181}, "lon"),
        ({"lat": "NaN", "lon": 0}, "lat"),
        ({"lat": 0, "lon": "Infinity"}, "lon"),
        ({"lat": "north", "lon": 0}, "lat"),
        ({"lat": None, "lon": None}, "lat"),
        ({"lat": 10**400, "lon": 0}, "lat"),
    ],
)
def test_bad_restaurant_fields_are_refused(owner, change, field):
    restaurant = RestaurantFactory()

    assert_error(
        owner.post("/restaurants", {**VALID_RESTAURANT, **change}, format="json"), field=field
    )
    assert_error(owner.patch(f"/restaurants/{restaurant.id}", change, format="json"), field=field)


@pytest.mark.parametrize("change,missing", [({"lat": 52.5}, "lon"), ({"lon": 13.4}, "lat")])
def test_a_restaurant_moves_with_lat_and_lon_together(owner, change, missing):
    restaurant = RestaurantFactory(lat=None, lon=None)

    assert_error(owner.patch(f"/restaurants/{restaurant.id}", change, format="json"), field=missing)
    restaurant.refresh_from_db()
    assert (restaurant.lat, restaurant.lon) == (None, None)


@pytest.mark.parametrize(
    "change,field",
    [
        ({"name": "x" * 121}, "name"),
        ({"category": "x" * 51}, "category"),
        ({"description": "x" * 1001}, "description"),
        ({"currency": "XYZ"}, "currency"),
        ({"is_available": "perhaps"}, "is_available"),
    ],
)
def test_bad_menu_item_fields_are_refused(owner, change, field):
    restaurant = RestaurantFactory()
    response = owner.post(
        f"/restaurants/{restaurant.id}/menu", {**VALID_ITEM, **change}, format="json"
    )
    assert_error(response, field=field)


def test_missing_fields_malformed_json_and_non_object_bodies_are_refused(owner):
    assert_error(owner.post("/restaurants", {}, format="json"), field="name")
    for missing in ("lat", "lon"):  # a new restaurant has a position
        body = {k: v for k, v in VALID_RESTAURANT.items() if k not in ("lat", "lon")}
        assert_error(owner.post("/restaurants", body, format="json"), field=missing)
    assert_error(owner.post("/restaurants", "{not json", content_type="application/json"))
    assert_error(owner.post("/restaurants", [VALID_RESTAURANT], format="json"))


@pytest.mark.parametrize(
    "params,field",
    [
        ({"cuisine": "klingon"}, "cuisine"),
        ({"is_open": "maybe"}, "is_open"),
        ({"colour": "blue"}, "colour"),
        ({"search": "x" * 101}, "search"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "abc"}, "page"),
        ({"page": "9" * 30}, "page"),
        ({"page": "100001"}, "page"),
    ],
)
def test_bad_list_filters_are_refused(api_client, params, field):
    assert_error(api_client.get("/restaurants", params), field=field)


def test_page_beyond_the_end_is_404_json(api_client):
    RestaurantFactory()
    assert_error(api_client.get("/restaurants", {"page": 99_999}), status=404)


@pytest.mark.parametrize(
    "ids", ["a,b", "1,,2", "0", "-3", "9" * 30, ",".join(str(n) for n in range(1, 102)), "1.5"]
)
def test_bad_menu_ids_are_refused(api_client, ids):
    restaurant = RestaurantFactory()
    assert_error(api_client.get(f"/restaurants/{restaurant.id}/menu", {"ids": ids}), field="ids")


@pytest.mark.parametrize("path", ["/restaurants/abc", "/restaurants/1/menu/x", "/restaurants/"])
def test_malformed_paths_are_404_json(api_client, path):
    assert_error(api_client.get(path), status=404)

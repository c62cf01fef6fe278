from decimal import Decimal

import pytest
from django.core.management import call_command

from catalog.models import Cuisine, MenuItem, Restaurant
from catalog.tests.factories import ADMIN, OWNER, MenuItemFactory, RestaurantFactory

pytestmark = pytest.mark.django_db


def test_list_is_public_paginated_and_ordered_by_name(api_client):
    RestaurantFactory.create_batch(25)

    first = api_client.get("/restaurants")
    second = api_client.get("/restaurants", {"page": 2})

    assert first.status_code == 200
    assert first.json()["count"] == 25
    assert len(first.json()["results"]) == 20
    assert first.json()["next"].endswith("/restaurants?page=2")
    assert len(second.json()["results"]) == 5
    names = [r["name"] for r in first.json()["results"] + second.json()["results"]]
    assert names == sorted(names)


def test_list_filters_by_search_cuisine_and_is_open(api_client):
    pizza = RestaurantFactory(name="Pizza Roma", cuisine=Cuisine.ITALIAN)
    sushi = RestaurantFactory(
        name="Tokyo Bar", description="Sushi and more", cuisine=Cuisine.JAPANESE
    )
    taco = RestaurantFactory(name="El Taco", cuisine=Cuisine.MEXICAN, is_open=False)

    def ids(**params):
        response = api_client.get("/restaurants", params)
        assert response.status_code == 200, response.json()
        return {r["id"] for r in response.json()["results"]}

    assert ids(search="pizza") == {pizza.id}
    assert ids(search="SUSHI") == {sushi.id}  # description, any case
    assert ids(search="mexic") == {taco.id}  # cuisine
    assert ids(cuisine="japanese") == {sushi.id}
    assert ids(is_open="false") == {taco.id}
    assert ids(is_open="true") == {pizza.id, sushi.id}
    assert ids(is_open="true", search="o", cuisine="italian") == {pizza.id}


def test_create_makes_the_caller_the_owner(owner):
    response = owner.post(
        "/restaurants",
        {
            "name": "Curry House",
            "cuisine": "indian",
            "address": "1 High St",
            "lat": 52.5,
            "lon": 13.4,
            "owner_id": 999,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["owner_id"] == OWNER
    assert body["is_open"] is True
    assert (body["lat"], body["lon"]) == (52.5, 13.4)
    restaurant = Restaurant.objects.get(pk=body["id"])
    assert (restaurant.owner_id, restaurant.lat, restaurant.lon) == (OWNER, 52.5, 13.4)


def test_admin_creating_a_restaurant_becomes_its_owner(admin):
    response = admin.post(
        "/restaurants",
        {"name": "HQ", "cuisine": "other", "address": "1 Admin Way", "lat": 0, "lon": 0},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["owner_id"] == ADMIN


def test_detail_carries_the_whole_menu_and_is_open(api_client):
    restaurant = RestaurantFactory(is_open=False)
    MenuItemFactory(restaurant=restaurant, name="Soup", category="Starters", price=Decimal("4.50"))
    MenuItemFactory(restaurant=restaurant, name="Cake", category="Desserts", is_available=False)
    MenuItemFactory(name="Not on this menu")

    response = api_client.get(f"/restaurants/{restaurant.id}")

    assert response.status_code == 200
    body = response.json()
    assert body["is_open"] is False
    assert [(i["name"], i["is_available"]) for i in body["menu"]] == [
        ("Cake", False),
        ("Soup", True),
    ]
    assert body["menu"][1]["price"] == "4.50"
    assert body["menu"][1]["currency"] == "EUR"


def test_reads_show_the_restaurants_position(api_client):
    restaurant = RestaurantFactory(lat=52.5219, lon=13.4132)

    listed = api_client.get("/restaurants").json()["results"][0]
    detail = api_client.get(f"/restaurants/{restaurant.id}").json()

    assert (listed["lat"], listed["lon"]) == (52.5219, 13.4132)
    assert (detail["lat"], detail["lon"]) == (52.5219, 13.4132)


@pytest.mark.django_db(transaction=True)  # the cache is invalidated when the write commits
def test_owner_moves_a_restaurant_and_the_cached_detail_follows(owner, api_client):
    restaurant = RestaurantFactory(lat=None, lon=None)  # created before restaurants had positions
    before = api_client.get(f"/restaurants/{restaurant.id}").json()

    patched = owner.patch(
        f"/restaurants/{restaurant.id}", {"lat": "48.8566", "lon": 2.3522}, format="json"
    )

    assert (before["lat"], before["lon"]) == (None, None)
    assert patched.status_code == 200, patched.json()
    after = api_client.get(f"/restaurants/{restaurant.id}").json()
    assert (after["lat"], after["lon"]) == (48.8566, 2.3522)


def test_owner_updates_and_deletes_a_restaurant(owner):
    restaurant = RestaurantFactory()
    MenuItemFactory(restaurant=restaurant)

    patched = owner.patch(
        f"/restaurants/{restaurant.id}", {"name": "New Name", "is_open": False}, format="json"
    )
    deleted = owner.delete(f"/restaurants/{restaurant.id}")

    assert patched.status_code == 200
    assert (patched.json()["name"], patched.json()["is_open"]) == ("New Name", False)
    assert deleted.status_code == 204
    assert not Restaurant.objects.exists()
    assert not MenuItem.objects.exists()


def test_menu_item_lifecycle(owner, api_client):
    restaurant = RestaurantFactory()
    created = owner.post(
        f"/restaurants/{restaurant.id}/menu",
        {"name": "Lasagne", "price": "12.90", "category": "Mains"},
        format="json",
    )
    item_url = f"/restaurants/{restaurant.id}/menu/{created.json()['id']}"

    patched = owner.patch(item_url, {"price": "13.50", "is_available": False}, format="json")
    menu = api_client.get(f"/restaurants/{restaurant.id}/menu")
    deleted = owner.delete(item_url)

    assert created.status_code == 201, created.json()
    assert created.json()["restaurant_id"] == restaurant.id
    assert patched.status_code == 200
    assert (patched.json()["price"], patched.json()["is_available"]) == ("13.50", False)
    assert menu.json()["results"][0]["price"] == "13.50"
    assert deleted.status_code == 204
    assert not MenuItem.objects.exists()


def test_bulk_menu_read_returns_only_the_asked_items_unpaginated(api_client):
    restaurant = RestaurantFactory(is_open=True, lat=52.5219, lon=13.4132)
    items = MenuItemFactory.create_batch(30, restaurant=restaurant)
    foreign = MenuItemFactory()
    wanted = [item.id for item in items[:25]]

    response = api_client.get(
        f"/restaurants/{restaurant.id}/menu", {"ids": ",".join(map(str, [*wanted, foreign.id]))}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["restaurant"] == {
        "id": restaurant.id,
        "owner_id": restaurant.owner_id,
        "name": restaurant.name,
        "is_open": True,
        "lat": 52.5219,
        "lon": 13.4132,
    }
    assert body["count"] == 25
    assert {i["id"] for i in body["results"]} == set(
        wanted
    )  # the other restaurant's item is absent
    assert {"price", "currency", "is_available"} <= set(body["results"][0])


def test_bulk_menu_read_takes_a_constant_number_of_queries(api_client, django_assert_num_queries):
    restaurant = RestaurantFactory()
    ids = ",".join(str(item.id) for item in MenuItemFactory.create_batch(20, restaurant=restaurant))

    with django_assert_num_queries(2):
        api_client.get(f"/restaurants/{restaurant.id}/menu", {"ids": ids})


def test_menu_item_names_are_unique_per_restaurant_ignoring_case(owner):
    restaurant = RestaurantFactory()
    MenuItemFactory(restaurant=restaurant, name="Pad Thai")
    MenuItemFactory(name="Green Curry")  # same name elsewhere is fine
    other = MenuItemFactory(restaurant=restaurant, name="Tom Yum")

    duplicate = owner.post(
        f"/restaurants/{restaurant.id}/menu", {"name": "pad thai", "price": "9"}, format="json"
    )
    elsewhere = owner.post(
        f"/restaurants/{restaurant.id}/menu", {"name": "Green Curry", "price": "9"}, format="json"
    )
    renamed = owner.patch(
        f"/restaurants/{restaurant.id}/menu/{other.id}", {"name": "PAD THAI"}, format="json"
    )

    assert duplicate.status_code == 400
    assert duplicate.json()["code"] == "menu_item_name_taken"
    assert elsewhere.status_code == 201
    assert renamed.status_code == 400


def test_item_of_another_restaurant_is_not_found_under_this_one(owner):
    mine = RestaurantFactory()
    foreign_item = MenuItemFactory(restaurant=RestaurantFactory())

    response = owner.patch(
        f"/restaurants/{mine.id}/menu/{foreign_item.id}", {"price": "1.00"}, format="json"
    )

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize(
    "path",
    ["/restaurants/999999", "/restaurants/999999/menu", "/restaurants/99999999999999999999999"],
)
def test_unknown_restaurant_is_404_json(api_client, path):
    response = api_client.get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_schema_documents_every_endpoint(api_client):
    response = api_client.get("/schema", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths["/restaurants"]) == {"get", "post"}
    assert set(paths["/restaurants/{restaurant_id}"]) == {"get", "patch", "delete"}
    assert set(paths["/restaurants/{restaurant_id}/menu"]) == {"get", "post"}
    assert set(paths["/restaurants/{restaurant_id}/menu/{menu_item_id}"]) == {"patch", "delete"}
    list_params = {p["name"] for p in paths["/restaurants"]["get"]["parameters"]}
    assert list_params == {"search", "cuisine", "is_open", "page"}
    assert "X-Cache" in paths["/restaurants"]["get"]["responses"]["200"]["headers"]


def test_schema_generates_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "s.yaml"))

"""Writes through the Django admin (forms, inlines, the delete action) invalidate the API's cache."""

import pytest

from catalog.models import Restaurant
from catalog.tests.factories import MenuItemFactory, RestaurantFactory
from catalog.tests.reads import fresh, snapshot

ADMIN_INLINE = {
    "menu_items-TOTAL_FORMS": "0",
    "menu_items-INITIAL_FORMS": "0",
    "menu_items-MIN_NUM_FORMS": "0",
    "menu_items-MAX_NUM_FORMS": "1000",
}


def admin_form(restaurant: Restaurant, **changes) -> dict:
    """Return the admin change form's data for `restaurant` and its items, with `changes` applied."""
    data = {
        "owner_id": restaurant.owner_id,
        "name": restaurant.name,
        "description": restaurant.description,
        "cuisine": restaurant.cuisine,
        "address": restaurant.address,
        "lat": restaurant.lat,
        "lon": restaurant.lon,
        "is_open": "on" if restaurant.is_open else "",
        **ADMIN_INLINE,
    }
    items = list(restaurant.menu_items.order_by("id"))
    data["menu_items-TOTAL_FORMS"] = data["menu_items-INITIAL_FORMS"] = str(len(items))
    for n, item in enumerate(items):
        prefix = f"menu_items-{n}-"
        data |= {
            prefix + "id": item.id,
            prefix + "restaurant": restaurant.id,
            prefix + "name": item.name,
            prefix + "category": item.category,
            prefix + "price": str(item.price),
            prefix + "currency": item.currency,
            prefix + "is_available": "on" if item.is_available else "",
            prefix + "description": item.description,
        }
    return {key: value for key, value in {**data, **changes}.items() if value != ""}


def admin_write(admin_client, write: str, restaurant: Restaurant):
    change_url = f"/admin/catalog/catalog/restaurant/{restaurant.id}/change/"
    if write == "create restaurant":
        data = {
            "owner_id": 7,
            "name": "AAA Admin Made",
            "cuisine": "greek",
            "address": "1 Rd",
            "lat": "52.5",
            "lon": "13.4",
            **ADMIN_INLINE,
            "menu_items-TOTAL_FORMS": "1",
            "menu_items-0-name": "Souvlaki",
            "menu_items-0-price": "8.00",
            "menu_items-0-currency": "EUR",
        }
        return admin_client.post("/admin/catalog/catalog/restaurant/add/", data)
    if write == "update restaurant":
        return admin_client.post(change_url, admin_form(restaurant, name="AAA Renamed"))
    if write == "delete restaurant":
        return admin_client.post(
            f"/admin/catalog/catalog/restaurant/{restaurant.id}/delete/", {"post": "yes"}
        )
    if write == "delete restaurants (action)":
        return admin_client.post(
            "/admin/catalog/catalog/restaurant/",
            {"action": "delete_selected", "_selected_action": [restaurant.id], "post": "yes"},
        )
    if write == "create item":
        form = admin_form(restaurant)
        form |= {
            "menu_items-TOTAL_FORMS": "2",
            "menu_items-1-name": "Inline Dish",
            "menu_items-1-price": "3.00",
            "menu_items-1-currency": "EUR",
        }
        return admin_client.post(change_url, form)
    if write == "update item":
        return admin_client.post(
            change_url, admin_form(restaurant, **{"menu_items-0-name": "Renamed"})
        )
    if write == "delete item":
        return admin_client.post(
            change_url, admin_form(restaurant, **{"menu_items-0-DELETE": "on"})
        )
    raise AssertionError(write)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "write",
    [
        "create restaurant",
        "update restaurant",
        "delete restaurant",
        "delete restaurants (action)",
        "create item",
        "update item",
        "delete item",
    ],
)
def test_admin_writes_are_visible_on_the_next_read(api_client, admin_client, write):
    restaurant = RestaurantFactory(name="BBB")
    MenuItemFactory(restaurant=restaurant, name="Old Dish")
    before = snapshot(api_client, restaurant.id)

    response = admin_write(admin_client, write, restaurant)

    assert response.status_code == 302, response.context and response.context.get("errors")
    assert fresh(api_client, restaurant.id) != before


@pytest.mark.django_db
def test_a_restaurant_saved_in_the_admin_has_a_position(admin_client):
    restaurant = RestaurantFactory()
    change_url = f"/admin/catalog/catalog/restaurant/{restaurant.id}/change/"

    cleared = admin_client.post(change_url, admin_form(restaurant, lat="", lon=""))
    out_of_range = admin_client.post(change_url, admin_form(restaurant, lat="91"))

    assert cleared.status_code == out_of_range.status_code == 200  # the form again, with errors
    assert set(cleared.context["adminform"].form.errors) == {"lat", "lon"}
    assert "__all__" in out_of_range.context["adminform"].form.errors  # the range constraint
    restaurant.refresh_from_db()
    assert (restaurant.lat, restaurant.lon) == (52.5219, 13.4132)

"""A restaurant's page in the catalog admin links its orders in the orders admin (issue 17)."""

import pytest

from catalog.tests.factories import RestaurantFactory


@pytest.mark.django_db
def test_a_restaurant_page_links_its_orders(admin_client):
    restaurant = RestaurantFactory()

    page = admin_client.get(f"/admin/catalog/catalog/restaurant/{restaurant.pk}/change/")
    new = admin_client.get("/admin/catalog/catalog/restaurant/add/")

    assert page.status_code == new.status_code == 200
    assert f'href="/admin/orders/orders/order/?restaurant_id={restaurant.pk}"'.encode() in (
        page.content
    )
    assert b"/admin/orders/orders/order/?restaurant_id=" not in new.content

"""Every page of the catalog admin renders for staff (issue 17); restaurants stay editable."""

import pytest

from catalog.tests.factories import MenuItemFactory
from food_common.testing import admin_tour


@pytest.mark.django_db
def test_every_admin_page_renders(admin_client):
    MenuItemFactory()

    tour = admin_tour(admin_client, "catalog")

    assert tour.problems == []
    assert tour.records == []
    assert "/admin/catalog/catalog/restaurant/" in tour.pages

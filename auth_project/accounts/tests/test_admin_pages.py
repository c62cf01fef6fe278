"""Every page of the auth admin renders for staff (issue 17); users stay editable."""

import pytest

from accounts.tests.factories import UserFactory
from food_common.testing import admin_tour


@pytest.mark.django_db
def test_every_admin_page_renders(admin_client):
    UserFactory()

    tour = admin_tour(admin_client, "auth")

    assert tour.problems == []
    assert tour.records == []
    assert "/admin/auth/accounts/user/" in tour.pages

"""Every page of the delivery admin renders for staff; its records are view only (issue 17)."""

import pytest

from delivery.tests.factories import DeliveryFactory, RiderFactory
from food_common.testing import admin_tour


@pytest.mark.django_db
def test_every_admin_page_renders_and_records_are_view_only(admin_client):
    RiderFactory()
    DeliveryFactory()

    tour = admin_tour(admin_client, "delivery")

    assert tour.problems == []
    assert sorted(tour.records) == [
        "delivery.delivery",
        "events.deadletter",
        "events.inboxentry",
        "events.outboxevent",
    ]

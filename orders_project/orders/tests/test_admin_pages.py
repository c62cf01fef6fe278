"""Every page of the orders admin renders for staff; its records are view only (issue 17)."""

import pytest
from notifications.tests.factories import NotificationFactory

from food_common.testing import admin_tour
from orders.tests.factories import OrderFactory


@pytest.mark.django_db
def test_every_admin_page_renders_and_records_are_view_only(admin_client):
    OrderFactory()
    NotificationFactory()

    tour = admin_tour(admin_client, "orders")

    assert tour.problems == []
    assert sorted(tour.records) == [
        "events.deadletter",
        "events.inboxentry",
        "events.outboxevent",
        "notifications.notification",
        "orders.order",
    ]
    assert "/admin/orders/orders/order/add/" in tour.pages

"""The Django admin shows orders read-only; the only write is the cancel action (via services)."""

import pytest

from food_common.events.models import OutboxEvent
from orders.models import Order, OrderStatus
from orders.tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/orders/order/"


def test_the_changelist_searches_and_filters(admin_client):
    wanted = OrderFactory(customer_email="alice@example.com", status=OrderStatus.PAID)
    OrderFactory(customer_email="bob@example.com", restaurant_id=99)

    by_email = admin_client.get(CHANGELIST, {"q": "alice"})
    by_status = admin_client.get(CHANGELIST, {"status__exact": "PAID"})
    by_restaurant = admin_client.get(CHANGELIST, {"restaurant_id": "99"})

    assert by_email.status_code == by_status.status_code == by_restaurant.status_code == 200
    assert list(by_email.context["cl"].result_list) == [wanted]
    assert list(by_status.context["cl"].result_list) == [wanted]
    assert [o.restaurant_id for o in by_restaurant.context["cl"].result_list] == [99]


def test_an_order_is_read_only_with_items_and_history(admin_client):
    order = OrderFactory(status=OrderStatus.PAID)
    url = f"{CHANGELIST}{order.id}/change/"

    page = admin_client.get(url)
    posted = admin_client.post(url, {"status": "DELIVERED"})

    assert page.status_code == 200
    content = page.content.decode()
    assert "Margherita" in content
    assert "status history" in content.lower()
    assert 'name="status"' not in content  # shown, not editable
    assert posted.status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID


def test_orders_cannot_be_added_or_deleted_in_the_admin(admin_client):
    order = OrderFactory()

    assert admin_client.get(f"{CHANGELIST}add/").status_code == 403
    assert admin_client.post(f"{CHANGELIST}{order.id}/delete/", {"post": "yes"}).status_code == 403
    assert Order.objects.filter(pk=order.id).exists()


def test_the_cancel_action_goes_through_the_state_machine(admin_client):
    placed = OrderFactory()
    delivered = OrderFactory(status=OrderStatus.DELIVERED)

    response = admin_client.post(
        CHANGELIST,
        {"action": "cancel_orders", "_selected_action": [placed.id, delivered.id]},
        follow=True,
    )

    assert response.status_code == 200
    placed.refresh_from_db()
    delivered.refresh_from_db()
    assert placed.status == OrderStatus.CANCELLED
    assert placed.status_changes.last().by_user_id is None
    assert "in the admin by" in placed.status_changes.last().reason
    assert delivered.status == OrderStatus.DELIVERED
    assert OutboxEvent.objects.get().type == "order.cancelled"
    messages = [str(m) for m in response.context["messages"]]
    assert "1 order(s) cancelled." in messages
    assert any(f"{delivered.id} (DELIVERED)" in m for m in messages)


def test_an_admin_cancels_an_order_out_for_delivery_from_the_admin(admin_client):
    # Nobody else may once the rider has it; the admin's action cancels as an admin.
    order = OrderFactory(status=OrderStatus.OUT_FOR_DELIVERY)

    admin_client.post(CHANGELIST, {"action": "cancel_orders", "_selected_action": [order.id]})

    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED and order.refund_pending
    assert OutboxEvent.objects.get().type == "order.cancelled"

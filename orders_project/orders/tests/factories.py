from decimal import Decimal

import factory
from factory.django import DjangoModelFactory

# User ids (the `sub` of the test tokens) of the callers the tests play.
from food_common.testing import ADMIN, CUSTOMER, OTHER_CUSTOMER, OTHER_OWNER, OWNER  # noqa: F401
from orders.models import Order, OrderItem, OrderStatus, OrderStatusChange

RESTAURANT, OTHER_RESTAURANT = 11, 12
# Where the restaurants are (Berlin, Alexanderplatz and Potsdamer Platz) and the customer's door.
PICKUP, OTHER_PICKUP = (52.5219, 13.4132), (52.5096, 13.3759)
DROPOFF = (52.5300, 13.4000)


class OrderFactory(DjangoModelFactory):
    """An order in `status` (PLACED by default) with one line and a history that leads there."""

    class Meta:
        model = Order
        skip_postgeneration_save = True

    customer_id = CUSTOMER
    customer_email = factory.LazyAttribute(lambda o: f"user{o.customer_id}@example.com")
    restaurant_id = RESTAURANT
    restaurant_owner_id = OWNER
    delivery_address = factory.Sequence(lambda n: f"{n} Delivery Rd")
    delivery_lat, delivery_lon = DROPOFF
    pickup_lat, pickup_lon = PICKUP
    status = OrderStatus.PLACED
    subtotal = Decimal("19.00")
    total = Decimal("19.00")
    currency = "EUR"

    @factory.post_generation
    def lines(order, create, extracted, **kwargs):
        if not create:
            return
        OrderItem.objects.create(
            order=order,
            menu_item_id=1,
            name="Margherita",
            unit_price=Decimal("9.50"),
            quantity=2,
            line_total=Decimal("19.00"),
        )
        OrderStatusChange.objects.create(
            order=order, from_status="", to_status=OrderStatus.PLACED, by_user_id=order.customer_id
        )
        if order.status != OrderStatus.PLACED:
            OrderStatusChange.objects.create(
                order=order, from_status=OrderStatus.PLACED, to_status=order.status
            )

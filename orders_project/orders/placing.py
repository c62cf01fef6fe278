"""Placing an order: its lines checked, priced by the catalog, written with its event, once per key.

The catalog call (`orders.pricing`) is made *before* the database transaction opens, so no
transaction (nor row lock) is held while another service is waited for. The order, its lines, its
first status change and its `order.created` event are then written in one transaction. An
`Idempotency-Key` (read and compared by `food_common.idempotency`) makes a repeated request answer
with the order the first one placed; the order itself keeps the key and the request's fingerprint.
"""

from collections.abc import Mapping, Sequence
from contextlib import nullcontext

from django.db import IntegrityError, transaction

from food_common.db import violates
from food_common.events.bus import publish
from food_common.idempotency import ensure_same_request, request_fingerprint
from orders import clients, events
from orders.errors import OrderRejected
from orders.models import Order, OrderItem, OrderStatus, OrderStatusChange
from orders.pricing import OrderLine, PricedOrder, order_price

MAX_ORDER_LINES = 50
MAX_LINE_QUANTITY = 50
IDEMPOTENCY_CONSTRAINT = "order_idempotency_key_unique_per_customer"


def order_place(
    *,
    customer_id: int,
    customer_email: str,
    restaurant_id: int,
    items: Sequence[Mapping],
    delivery_address: str,
    delivery_lat: float,
    delivery_lon: float,
    idempotency_key: str | None = None,
    token: str | None = None,
    catalog: clients.Catalog | None = None,
) -> tuple[Order, bool]:
    """Price `items` ({menu_item_id, quantity}) with the catalog and place the order.

    The order is delivered to `delivery_address`, at (`delivery_lat`, `delivery_lon`), and picked
    up at the restaurant's position as the catalog gives it now.

    Return (order, True) for a new order; (the first order, False) when `idempotency_key` was
    already used by this customer with the same request. Not atomic itself on purpose: the
    catalog call happens before the transaction that writes the order (`_order_record`).
    """
    lines = [OrderLine(int(item["menu_item_id"]), int(item["quantity"])) for item in items]
    _check_lines(lines)
    fingerprint = None
    if idempotency_key is not None:
        fingerprint = request_fingerprint(
            {
                "restaurant_id": restaurant_id,
                "items": [{"menu_item_id": x.menu_item_id, "quantity": x.quantity} for x in lines],
                "delivery_address": delivery_address,
                "delivery_lat": delivery_lat,
                "delivery_lon": delivery_lon,
            }
        )
        existing = _order_by_key(customer_id=customer_id, idempotency_key=idempotency_key)
        if existing is not None:
            return _replayed(existing, fingerprint), False

    priced = order_price(
        catalog=catalog or clients.catalog_client(),
        restaurant_id=restaurant_id,
        lines=lines,
        token=token,
    )
    return _order_record(
        customer_id=customer_id,
        customer_email=customer_email,
        restaurant_id=restaurant_id,
        delivery_address=delivery_address,
        delivery_position=clients.Point(delivery_lat, delivery_lon),
        priced=priced,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )


def _check_lines(lines: Sequence[OrderLine]) -> None:
    if not lines:
        raise OrderRejected({"items": ["Order at least one item."]})
    if len(lines) > MAX_ORDER_LINES:
        raise OrderRejected({"items": [f"An order has at most {MAX_ORDER_LINES} lines."]})
    errors: dict[str, dict] = {}
    first_line_of: dict[int, int] = {}
    for index, line in enumerate(lines):
        if not 1 <= line.quantity <= MAX_LINE_QUANTITY:
            errors.setdefault(str(index), {})["quantity"] = [
                f"Order between 1 and {MAX_LINE_QUANTITY} of an item."
            ]
        if line.menu_item_id in first_line_of:
            errors.setdefault(str(index), {})["menu_item_id"] = [
                f"Menu item {line.menu_item_id} is already on line {first_line_of[line.menu_item_id]};"
                " order it once with the total quantity."
            ]
        else:
            first_line_of[line.menu_item_id] = index
    if errors:
        raise OrderRejected({"items": errors})


def _order_by_key(*, customer_id: int, idempotency_key: str) -> Order | None:
    return Order.objects.filter(customer_id=customer_id, idempotency_key=idempotency_key).first()


def _replayed(order: Order, fingerprint: str | None) -> Order:
    """Return the order a key placed; IdempotencyKeyReused (422, its `order_id`) for another body."""
    ensure_same_request(first=order.request_fingerprint, retry=fingerprint, order_id=order.pk)
    return order


@transaction.atomic
def _order_record(
    *,
    customer_id: int,
    customer_email: str,
    restaurant_id: int,
    delivery_address: str,
    delivery_position: clients.Point,
    priced: PricedOrder,
    idempotency_key: str | None,
    fingerprint: str | None,
) -> tuple[Order, bool]:
    order = Order(
        customer_id=customer_id,
        customer_email=customer_email,
        restaurant_id=restaurant_id,
        restaurant_owner_id=priced.restaurant_owner_id,
        delivery_address=delivery_address,
        delivery_lat=delivery_position.lat,
        delivery_lon=delivery_position.lon,
        pickup_lat=priced.pickup.lat,
        pickup_lon=priced.pickup.lon,
        status=OrderStatus.PLACED,
        subtotal=priced.subtotal,
        total=priced.total,
        currency=priced.currency,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint,
    )
    try:
        # With a key, a savepoint, so a duplicate key leaves the transaction usable (without one
        # nothing here is caught, and a savepoint would only cost two statements). When another
        # request with the same key has inserted but not committed yet, PostgreSQL makes this INSERT wait
        # on the unique index until that transaction ends: then it fails (and we answer with
        # that order) or succeeds (the other one rolled back).
        with transaction.atomic() if idempotency_key else nullcontext():
            order.save(force_insert=True)
    except IntegrityError as exc:
        if idempotency_key is None or not violates(exc, IDEMPOTENCY_CONSTRAINT):
            raise
        existing = _order_by_key(customer_id=customer_id, idempotency_key=idempotency_key)
        if existing is None:  # pragma: no cover - the row that blocked us was deleted since
            raise
        return _replayed(existing, fingerprint), False

    items = OrderItem.objects.bulk_create(
        OrderItem(
            order=order,
            menu_item_id=line.menu_item_id,
            name=line.name,
            unit_price=line.unit_price,
            quantity=line.quantity,
            line_total=line.line_total,
        )
        for line in priced.lines
    )
    placed = OrderStatusChange.objects.create(
        order=order,
        from_status="",
        to_status=OrderStatus.PLACED,
        at=order.created_at,
        by_user_id=customer_id,
    )
    _remember_related(order, "items", items)
    _remember_related(order, "status_changes", [placed])
    publish(events.ORDER_CREATED, events.order_created(order, items))
    return order, True


def _remember_related(order: Order, name: str, objects: list) -> None:
    """Give `order` its just-written related rows as if prefetch_related(name) had read them.

    The 201 answer of POST /orders is then serialized without reading back what this
    transaction wrote (three queries, a fifth of the request's CPU: bench/README.md). Django has
    no public call for this; it is what `prefetch_related_objects` itself stores.
    """
    queryset = getattr(order, name).all()
    queryset._result_cache = list(objects)
    queryset._prefetch_done = True
    order.__dict__.setdefault("_prefetched_objects_cache", {})[name] = queryset

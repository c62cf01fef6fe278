"""Writes of the orders service: placing an order, and every status change (one state machine).

Placing an order prices it with one catalog call made *before* the database transaction opens, so
no transaction (nor row lock) is held while another service is waited for. The order, its lines,
its first status change and its `order.created` event are then written in one transaction.
Every later status change goes through `order_transition`, which locks the order row, applies
`orders.state_machine`, and writes the history row and the event in the same transaction.
"""

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from rest_framework import status

from food_common.db import violates
from food_common.errors import BadGateway, DomainError, ErrorCode, NotFound, ServiceUnavailable
from food_common.events.bus import publish
from food_common.http import UpstreamError
from orders import clients
from orders.models import Order, OrderItem, OrderStatus, OrderStatusChange
from orders.state_machine import PAID_STATUSES, check_transition

logger = logging.getLogger(__name__)

MAX_ORDER_LINES = 50
MAX_LINE_QUANTITY = 50
CENT = Decimal("0.01")
IDEMPOTENCY_CONSTRAINT = "order_idempotency_key_unique_per_customer"
# The statuses a restaurant's owner (or an admin) moves an order to with POST /orders/{id}/status.
KITCHEN_STATUSES = (
    OrderStatus.ACCEPTED,
    OrderStatus.PREPARING,
    OrderStatus.READY,
    OrderStatus.DELIVERED,
)


class OrderErrorCode:
    RESTAURANT_NOT_FOUND = "restaurant_not_found"
    RESTAURANT_CLOSED = "restaurant_closed"
    MENU_ITEMS_INVALID = "menu_items_invalid"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"


class OrderRejected(DomainError):
    """The order cannot be placed as asked; `errors` says which field or line is wrong."""

    default_detail = "Invalid input."

    def __init__(self, errors: dict, detail: str | None = None, code: str | None = None):
        super().__init__(detail, code, errors=errors)


class IdempotencyKeyReused(DomainError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = OrderErrorCode.IDEMPOTENCY_KEY_REUSED
    default_detail = "This Idempotency-Key was already used for a different order; use a new key for a new order."


class CatalogBadGateway(BadGateway):
    default_detail = "The catalog gave an answer the order service cannot use."


class OrderNotFound(NotFound):
    default_detail = "Order not found."


@dataclass(frozen=True)
class OrderLine:
    menu_item_id: int
    quantity: int


@dataclass(frozen=True)
class PricedLine:
    menu_item_id: int
    name: str
    unit_price: Decimal
    quantity: int
    line_total: Decimal


@dataclass(frozen=True)
class MenuOffer:
    """What the catalog said about the restaurant and the asked-for items, checked for shape."""

    restaurant_owner_id: int
    restaurant_is_open: bool
    items: dict[int, dict]  # menu item id → {"name", "price" (Decimal), "currency", "is_available"}


# -- placing an order --------------------------------------------------------------------------


def order_place(
    *,
    customer_id: int,
    customer_email: str,
    restaurant_id: int,
    items: Sequence[Mapping],
    delivery_address: str,
    idempotency_key: str | None = None,
    token: str | None = None,
    catalog: clients.Catalog | None = None,
) -> tuple[Order, bool]:
    """Price `items` ({menu_item_id, quantity}) with the catalog and place the order.

    Return (order, True) for a new order; (the first order, False) when `idempotency_key` was
    already used by this customer with the same request. Not atomic itself on purpose: the
    catalog call happens before the transaction that writes the order (`_order_record`).
    """
    lines = [OrderLine(int(item["menu_item_id"]), int(item["quantity"])) for item in items]
    _check_lines(lines)
    fingerprint = None
    if idempotency_key is not None:
        fingerprint = request_fingerprint(
            restaurant_id=restaurant_id, lines=lines, delivery_address=delivery_address
        )
        existing = _order_by_key(customer_id=customer_id, idempotency_key=idempotency_key)
        if existing is not None:
            return _replayed(existing, fingerprint), False

    offer = _menu_offer(catalog or clients.catalog_client(), restaurant_id, lines, token)
    currency, priced = _price(offer, restaurant_id, lines)
    return _order_record(
        customer_id=customer_id,
        customer_email=customer_email,
        restaurant_id=restaurant_id,
        restaurant_owner_id=offer.restaurant_owner_id,
        delivery_address=delivery_address,
        currency=currency,
        lines=priced,
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )


def request_fingerprint(
    *, restaurant_id: int, lines: Sequence[OrderLine], delivery_address: str
) -> str:
    """Return the sha256 of the canonical JSON of a placing request (what a replay must repeat)."""
    body = {
        "restaurant_id": restaurant_id,
        "items": [{"menu_item_id": x.menu_item_id, "quantity": x.quantity} for x in lines],
        "delivery_address": delivery_address,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    if order.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(order_id=order.pk)
    return order


def _menu_offer(
    catalog: clients.Catalog, restaurant_id: int, lines: Sequence[OrderLine], token: str | None
) -> MenuOffer:
    """Ask the catalog about the restaurant and the lines' items (one call); check its answer."""
    try:
        menu = catalog.menu_items(
            restaurant_id=restaurant_id, ids=[x.menu_item_id for x in lines], token=token
        )
    except clients.RestaurantNotFound:
        raise OrderRejected(
            {"restaurant_id": [f"Restaurant {restaurant_id} does not exist."]},
            detail="The restaurant does not exist.",
            code=OrderErrorCode.RESTAURANT_NOT_FOUND,
        ) from None
    except UpstreamError as exc:
        logger.warning("catalog unavailable while placing an order: %s", exc)
        code = ErrorCode.UPSTREAM_TIMEOUT if exc.kind == "timeout" else None
        raise ServiceUnavailable(
            "The catalog is unavailable, so the order cannot be priced; try again shortly.",
            code,
            service="catalog",
        ) from None
    except clients.CatalogBadAnswer as exc:
        logger.error("unusable catalog answer while placing an order: %s", exc)
        raise CatalogBadGateway(service="catalog") from None
    try:
        restaurant = menu["restaurant"]
        if int(restaurant["id"]) != restaurant_id:
            raise ValueError(f"asked for restaurant {restaurant_id}, got {restaurant['id']}")
        items = {}
        for item in menu["results"]:
            items[int(item["id"])] = {
                "name": str(item["name"]),
                "price": Decimal(str(item["price"])),
                "currency": str(item["currency"]),
                "is_available": bool(item["is_available"]),
            }
        return MenuOffer(
            restaurant_owner_id=int(restaurant["owner_id"]),
            restaurant_is_open=bool(restaurant["is_open"]),
            items=items,
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
        logger.error("unusable catalog menu answer: %r (%s)", menu, exc)
        raise CatalogBadGateway(service="catalog") from None


def _price(
    offer: MenuOffer, restaurant_id: int, lines: Sequence[OrderLine]
) -> tuple[str, list[PricedLine]]:
    """Return the order's currency and its priced lines, or raise OrderRejected naming each bad line."""
    if not offer.restaurant_is_open:
        raise OrderRejected(
            {"restaurant_id": [f"Restaurant {restaurant_id} is closed and takes no orders now."]},
            detail="The restaurant is closed.",
            code=OrderErrorCode.RESTAURANT_CLOSED,
        )
    errors: dict[str, dict] = {}
    currency = None
    priced = []
    for index, line in enumerate(lines):
        item = offer.items.get(line.menu_item_id)
        problem = None
        if item is None:
            problem = f"Menu item {line.menu_item_id} is not on this restaurant's menu."
        elif not item["is_available"]:
            problem = f"{item['name']} (menu item {line.menu_item_id}) is not available right now."
        elif item["price"] <= 0:
            raise CatalogBadGateway(service="catalog")
        elif currency is not None and item["currency"] != currency:
            problem = (
                f"{item['name']} is priced in {item['currency']} but this order is in {currency};"
                " order it separately."
            )
        if problem:
            errors[str(index)] = {"menu_item_id": [problem]}
            continue
        currency = currency or item["currency"]
        unit_price = item["price"].quantize(CENT)
        priced.append(
            PricedLine(
                menu_item_id=line.menu_item_id,
                name=item["name"],
                unit_price=unit_price,
                quantity=line.quantity,
                line_total=(unit_price * line.quantity).quantize(CENT),
            )
        )
    if errors:
        raise OrderRejected(
            {"items": errors},
            detail="Some items cannot be ordered.",
            code=OrderErrorCode.MENU_ITEMS_INVALID,
        )
    return currency, priced


@transaction.atomic
def _order_record(
    *,
    customer_id: int,
    customer_email: str,
    restaurant_id: int,
    restaurant_owner_id: int,
    delivery_address: str,
    currency: str,
    lines: Sequence[PricedLine],
    idempotency_key: str | None,
    fingerprint: str | None,
) -> tuple[Order, bool]:
    subtotal = sum((line.line_total for line in lines), Decimal("0.00"))
    order = Order(
        customer_id=customer_id,
        customer_email=customer_email,
        restaurant_id=restaurant_id,
        restaurant_owner_id=restaurant_owner_id,
        delivery_address=delivery_address,
        status=OrderStatus.PLACED,
        subtotal=subtotal,
        total=subtotal,  # no fees yet: the total is what the customer pays
        currency=currency,
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
        for line in lines
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
    publish(
        "order.created",
        {
            "order_id": order.pk,
            "customer_id": customer_id,
            "customer_email": customer_email,
            "restaurant_id": restaurant_id,
            "restaurant_owner_id": restaurant_owner_id,
            "items": [
                {
                    "menu_item_id": line.menu_item_id,
                    "name": line.name,
                    "unit_price": str(line.unit_price),
                    "quantity": line.quantity,
                    "line_total": str(line.line_total),
                }
                for line in lines
            ],
            "subtotal": str(order.subtotal),
            "total": str(order.total),
            "currency": currency,
        },
    )
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


# -- status changes ----------------------------------------------------------------------------


@transaction.atomic
def order_transition(
    *, order_id: int, to_status: str, by_user_id: int | None = None, reason: str = ""
) -> Order:
    """Move an order to `to_status` if the state machine allows it, with its history and event.

    The one way any status changes (API, admin, event handlers). Raise OrderNotFound (404) or
    InvalidTransition (409, code "invalid_transition"). Publishes `order.cancelled` for a move to
    CANCELLED and `order.status_changed` for any other move, in the same transaction.
    """
    return _transition(_locked(order_id), to_status, by_user_id=by_user_id, reason=reason)


def _locked(order_id: int) -> Order:
    """Return the order, its row locked until the transaction ends; OrderNotFound if none."""
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound()
    return order


def _transition(order: Order, to_status: str, *, by_user_id: int | None, reason: str) -> Order:
    """Move a locked order (see order_transition)."""
    from_status = order.status
    check_transition(from_status, to_status)
    order.status = to_status
    if to_status == OrderStatus.CANCELLED and from_status in PAID_STATUSES:
        order.refund_pending = True
    elif to_status == OrderStatus.REFUNDED:
        order.refund_pending = False
    order.save(update_fields=["status", "refund_pending", "updated_at"])
    OrderStatusChange.objects.create(
        order=order,
        from_status=from_status,
        to_status=to_status,
        by_user_id=by_user_id,
        reason=reason,
    )
    about = _order_event_subject(order)
    if to_status == OrderStatus.CANCELLED:
        _publish_cancelled(order, was_paid=from_status in PAID_STATUSES, reason=reason)
    else:
        publish(
            "order.status_changed", {**about, "from_status": from_status, "to_status": to_status}
        )
    return order


def _order_event_subject(order: Order) -> dict:
    return {
        "order_id": order.pk,
        "customer_id": order.customer_id,
        "customer_email": order.customer_email,
        "restaurant_id": order.restaurant_id,
        "restaurant_owner_id": order.restaurant_owner_id,
    }


def _publish_cancelled(order: Order, *, was_paid: bool, reason: str) -> None:
    publish(
        "order.cancelled",
        {
            **_order_event_subject(order),
            "was_paid": was_paid,
            "total": str(order.total),
            "currency": order.currency,
            "reason": reason,
        },
    )


@transaction.atomic
def order_payment_record(
    *, order_id: int, succeeded: bool, payment_id: int, reason: str = ""
) -> Order:
    """Apply a payment's outcome to its order (the handlers of payment.succeeded/failed).

    PLACED|PAYMENT_FAILED → PAID on success; PLACED → PAYMENT_FAILED on failure. A success for an
    order cancelled meanwhile asks payments for a refund (order.cancelled again, was_paid) and
    marks the refund pending. Outcomes that arrive late or twice change nothing.
    """
    order = _locked(order_id)
    if succeeded and order.status in (OrderStatus.PLACED, OrderStatus.PAYMENT_FAILED):
        return _transition(order, OrderStatus.PAID, by_user_id=None, reason=f"payment {payment_id}")
    if succeeded and order.status == OrderStatus.CANCELLED and not order.refund_pending:
        order.refund_pending = True
        order.save(update_fields=["refund_pending", "updated_at"])
        _publish_cancelled(
            order, was_paid=True, reason=f"payment {payment_id} arrived after the cancellation"
        )
        return order
    if not succeeded and order.status == OrderStatus.PLACED:
        return _transition(
            order,
            OrderStatus.PAYMENT_FAILED,
            by_user_id=None,
            reason=reason or f"payment {payment_id}",
        )
    logger.info(
        "payment %s (%s) for order %s in %s: nothing to change",
        payment_id,
        "succeeded" if succeeded else "failed",
        order_id,
        order.status,
    )
    return order


@transaction.atomic
def order_refund_record(*, order_id: int, payment_id: int) -> Order:
    """Apply a completed refund (the handler of payment.refunded): the order becomes REFUNDED.

    A cancelled order ends the cancel saga so. Any other order was refunded without being
    cancelled (an admin's refund): it leaves PAID (or the kitchen's statuses) for REFUNDED too, so
    its restaurant can no longer accept it. A refund that arrives twice changes nothing.
    """
    order = _locked(order_id)
    if order.status == OrderStatus.REFUNDED:
        logger.info("refund of payment %s for order %s: already REFUNDED", payment_id, order_id)
        return order
    reason = f"payment {payment_id} refunded"
    if order.status != OrderStatus.CANCELLED:
        logger.warning(
            "payment %s of order %s in %s was refunded without a cancellation: order REFUNDED",
            payment_id,
            order_id,
            order.status,
        )
        reason += f" while the order was {order.status}"
    return _transition(order, OrderStatus.REFUNDED, by_user_id=None, reason=reason)


def order_cancel(*, order_id: int, by_user_id: int | None, reason: str = "") -> Order:
    """Cancel an order (allowed from PLACED, PAYMENT_FAILED, PAID, ACCEPTED); see order_transition."""
    return order_transition(
        order_id=order_id, to_status=OrderStatus.CANCELLED, by_user_id=by_user_id, reason=reason
    )


def order_advance(*, order_id: int, to_status: str, by_user_id: int | None) -> Order:
    """Move an order along the kitchen's part of its life (ACCEPTED … DELIVERED)."""
    if to_status not in KITCHEN_STATUSES:
        raise OrderRejected(
            {"status": [f"Choose one of {', '.join(KITCHEN_STATUSES)}."]},
        )
    return order_transition(order_id=order_id, to_status=to_status, by_user_id=by_user_id)

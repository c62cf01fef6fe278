"""Pricing an order: the catalog's prices for its lines, at the moment it is placed.

One catalog call, made by the placing code before its transaction opens; the catalog's answer is
read by the adapter (`orders.clients`). The rules here are the order's own: the restaurant is open
and has a position (where a rider picks the order up), every item is on its menu and available, one
currency per order, prices rounded to cents, and the total is the subtotal (no fees yet).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from food_common.errors import ErrorCode, ServiceUnavailable
from food_common.http import UpstreamError
from orders import clients
from orders.errors import CatalogBadGateway, OrderErrorCode, OrderRejected

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")


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
class PricedOrder:
    restaurant_owner_id: int
    currency: str
    lines: list[PricedLine]
    pickup: clients.Point  # the restaurant's position

    @property
    def subtotal(self) -> Decimal:
        return sum((line.line_total for line in self.lines), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return self.subtotal  # no fees yet: the total is what the customer pays


def order_price(
    *,
    catalog: clients.Catalog,
    restaurant_id: int,
    lines: Sequence[OrderLine],
    token: str | None,
) -> PricedOrder:
    """Price `lines` at the catalog (one call); raise OrderRejected naming each line it refuses.

    The catalog unreachable is a 503 (ServiceUnavailable), an answer it cannot use a 502
    (CatalogBadGateway).
    """
    offer = _menu_offer(catalog, restaurant_id, lines, token)
    if not offer.restaurant_is_open:
        raise OrderRejected(
            {"restaurant_id": [f"Restaurant {restaurant_id} is closed and takes no orders now."]},
            detail="The restaurant is closed.",
            code=OrderErrorCode.RESTAURANT_CLOSED,
        )
    if offer.restaurant_position is None:
        raise OrderRejected(
            {
                "restaurant_id": [
                    f"Restaurant {restaurant_id} has no position, so no rider can find it."
                ]
            },
            detail="The restaurant has no position yet and takes no orders.",
            code=OrderErrorCode.RESTAURANT_WITHOUT_POSITION,
        )
    errors: dict[str, dict] = {}
    currency = None
    priced = []
    for index, line in enumerate(lines):
        item = offer.items.get(line.menu_item_id)
        problem = None
        if item is None:
            problem = f"Menu item {line.menu_item_id} is not on this restaurant's menu."
        elif not item.is_available:
            problem = f"{item.name} (menu item {line.menu_item_id}) is not available right now."
        elif currency is not None and item.currency != currency:
            problem = (
                f"{item.name} is priced in {item.currency} but this order is in {currency};"
                " order it separately."
            )
        if problem:
            errors[str(index)] = {"menu_item_id": [problem]}
            continue
        currency = currency or item.currency
        unit_price = item.price.quantize(CENT)
        priced.append(
            PricedLine(
                menu_item_id=line.menu_item_id,
                name=item.name,
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
    return PricedOrder(
        restaurant_owner_id=offer.restaurant_owner_id,
        currency=currency,
        lines=priced,
        pickup=offer.restaurant_position,
    )


def _menu_offer(
    catalog: clients.Catalog, restaurant_id: int, lines: Sequence[OrderLine], token: str | None
) -> clients.MenuOffer:
    """Ask the catalog about the restaurant and the lines' items; turn its failures into answers."""
    try:
        return catalog.menu_offer(
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

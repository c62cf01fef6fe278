"""Stand-ins for the catalog and delivery services: the unit tests never run the real ones."""

import threading
from decimal import Decimal

from orders.clients import MenuOffer, RestaurantNotFound, RiderPosition, menu_offer_from


class FakeCatalog:
    """Answers `menu_items` like the catalog's `GET /restaurants/{id}/menu?ids=` does.

    `menu_offer` reads that answer with the real adapter's `menu_offer_from`, as CatalogClient does.
    """

    def __init__(self):
        self.restaurants: dict[int, dict] = {}
        self.items: dict[int, dict] = {}
        self.calls: list[dict] = []
        self.error: Exception | None = None
        self.answer: dict | None = None  # when set, returned as is (a malformed answer)
        self._lock = threading.Lock()

    def add_restaurant(
        self,
        restaurant_id: int,
        *,
        owner_id: int,
        is_open: bool = True,
        position: tuple[float, float] | None = (52.5219, 13.4132),
    ) -> None:
        lat, lon = position or (None, None)
        self.restaurants[restaurant_id] = {
            "id": restaurant_id,
            "owner_id": owner_id,
            "name": f"Restaurant {restaurant_id}",
            "is_open": is_open,
            "lat": lat,
            "lon": lon,
        }

    def add_item(
        self,
        restaurant_id: int,
        item_id: int,
        name: str,
        price: str,
        *,
        currency: str = "EUR",
        is_available: bool = True,
    ) -> None:
        self.items[item_id] = {
            "id": item_id,
            "restaurant_id": restaurant_id,
            "name": name,
            "description": "",
            "category": "Mains",
            "price": str(Decimal(price)),
            "currency": currency,
            "is_available": is_available,
        }

    def menu_offer(self, *, restaurant_id, ids, token) -> MenuOffer:
        answer = self.menu_items(restaurant_id=restaurant_id, ids=ids, token=token)
        return menu_offer_from(answer, restaurant_id=restaurant_id)

    def menu_items(self, *, restaurant_id, ids, token):
        ids = list(ids)
        with self._lock:
            self.calls.append({"restaurant_id": restaurant_id, "ids": ids, "token": token})
        if self.error is not None:
            raise self.error
        if self.answer is not None:
            return self.answer
        if restaurant_id not in self.restaurants:
            raise RestaurantNotFound(restaurant_id)
        results = [
            item
            for item in self.items.values()
            if item["id"] in ids and item["restaurant_id"] == restaurant_id
        ]
        return {
            "restaurant": dict(self.restaurants[restaurant_id]),
            "count": len(results),
            "results": [dict(item) for item in results],
        }


class FakeDelivery:
    """A stand-in for the delivery service: the rider positions `GET /deliveries/{id}` shows."""

    def __init__(self):
        self.positions: dict[int, RiderPosition | None] = {}
        self.calls: list[dict] = []
        self.error: Exception | None = None

    def rider_position(self, *, delivery_id, token) -> RiderPosition | None:
        self.calls.append({"delivery_id": delivery_id, "token": token})
        if self.error is not None:
            raise self.error
        return self.positions.get(delivery_id)

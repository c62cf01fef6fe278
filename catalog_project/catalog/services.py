"""Writes to the catalog: restaurants and their menus. Cache invalidation follows from signals."""

from decimal import Decimal

from django.db import IntegrityError, transaction
from rest_framework import status

from catalog.models import Currency, MenuItem, Restaurant
from food_common.errors import DomainError

MAX_MENU_ITEMS = 200
RESTAURANT_FIELDS = {"name", "description", "cuisine", "address", "lat", "lon", "is_open"}
MENU_ITEM_FIELDS = {"name", "description", "category", "price", "currency", "is_available"}


class CatalogErrorCode:
    MENU_ITEM_NAME_TAKEN = "menu_item_name_taken"
    MENU_FULL = "menu_full"


class MenuItemNameTaken(DomainError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = CatalogErrorCode.MENU_ITEM_NAME_TAKEN
    default_detail = "This restaurant already has a menu item with this name."


class MenuFull(DomainError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = CatalogErrorCode.MENU_FULL
    default_detail = f"A menu holds at most {MAX_MENU_ITEMS} items."


@transaction.atomic
def restaurant_create(
    *,
    owner_id: int,
    name: str,
    cuisine: str,
    address: str,
    lat: float,
    lon: float,
    description: str = "",
    is_open: bool = True,
) -> Restaurant:
    """Create a restaurant owned by `owner_id` at (`lat`, `lon`)."""
    return Restaurant.objects.create(
        owner_id=owner_id,
        name=name,
        cuisine=cuisine,
        address=address,
        lat=lat,
        lon=lon,
        description=description,
        is_open=is_open,
    )


@transaction.atomic
def restaurant_update(*, restaurant: Restaurant, data: dict) -> Restaurant:
    """Apply `data` (any of RESTAURANT_FIELDS) to `restaurant`."""
    changed = _apply(restaurant, data, RESTAURANT_FIELDS)
    if changed:
        restaurant.save(update_fields=[*changed, "updated_at"])
    return restaurant


@transaction.atomic
def restaurant_delete(*, restaurant: Restaurant) -> None:
    """Delete a restaurant and its menu."""
    restaurant.delete()


@transaction.atomic
def menu_item_create(
    *,
    restaurant: Restaurant,
    name: str,
    price: Decimal,
    description: str = "",
    category: str = "",
    currency: str = Currency.EUR,
    is_available: bool = True,
) -> MenuItem:
    """Add an item to a restaurant's menu; names are unique per menu, ignoring case."""
    # Lock the restaurant so concurrent adds cannot overshoot the menu size limit.
    Restaurant.objects.select_for_update().get(pk=restaurant.pk)
    if restaurant.menu_items.count() >= MAX_MENU_ITEMS:
        raise MenuFull()
    _ensure_name_free(restaurant=restaurant, name=name)
    menu_item = MenuItem(
        restaurant=restaurant,
        name=name,
        price=price,
        description=description,
        category=category,
        currency=currency,
        is_available=is_available,
    )
    _save_menu_item(menu_item)
    return menu_item


@transaction.atomic
def menu_item_update(*, menu_item: MenuItem, data: dict) -> MenuItem:
    """Apply `data` (any of MENU_ITEM_FIELDS) to `menu_item`."""
    if "name" in data:
        _ensure_name_free(restaurant=menu_item.restaurant, name=data["name"], exclude=menu_item)
    changed = _apply(menu_item, data, MENU_ITEM_FIELDS)
    if changed:
        _save_menu_item(menu_item, update_fields=[*changed, "updated_at"])
    return menu_item


@transaction.atomic
def menu_item_delete(*, menu_item: MenuItem) -> None:
    """Remove an item from its menu."""
    menu_item.delete()


def _apply(instance, data: dict, allowed: set[str]) -> list[str]:
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"cannot update {sorted(unknown)}")
    changed = [field for field, value in data.items() if getattr(instance, field) != value]
    for field in changed:
        setattr(instance, field, data[field])
    return changed


def _ensure_name_free(
    *, restaurant: Restaurant, name: str, exclude: MenuItem | None = None
) -> None:
    taken = restaurant.menu_items.filter(name__iexact=name)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise MenuItemNameTaken()


def _save_menu_item(menu_item: MenuItem, **kwargs) -> None:
    try:
        menu_item.save(**kwargs)
    except IntegrityError as exc:  # a concurrent write took the name after our check
        if "menu_item_name_unique_per_restaurant" in str(exc):
            raise MenuItemNameTaken() from None
        raise

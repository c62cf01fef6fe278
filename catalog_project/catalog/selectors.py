"""Reads of restaurants and menus (each list a constant number of queries)."""

from collections.abc import Iterable

from django.db.models import Prefetch, Q, QuerySet
from rest_framework.exceptions import NotFound

from catalog.models import MenuItem, Restaurant


def restaurant_list(
    *, search: str = "", cuisine: str | None = None, is_open: bool | None = None
) -> QuerySet[Restaurant]:
    """Return restaurants matching the filters, in list order (name, id)."""
    restaurants = Restaurant.objects.all()
    if search:
        restaurants = restaurants.filter(
            Q(name__icontains=search)
            | Q(description__icontains=search)
            | Q(cuisine__icontains=search)
        )
    if cuisine is not None:
        restaurants = restaurants.filter(cuisine=cuisine)
    if is_open is not None:
        restaurants = restaurants.filter(is_open=is_open)
    return restaurants


def restaurant_get(*, restaurant_id: int, with_menu: bool = False) -> Restaurant:
    """Return one restaurant (its menu prefetched if `with_menu`), or raise NotFound."""
    restaurants = Restaurant.objects.all()
    if with_menu:
        restaurants = restaurants.prefetch_related(
            Prefetch("menu_items", queryset=MenuItem.objects.order_by("category", "name", "id"))
        )
    return _get(restaurants, "Restaurant", pk=restaurant_id)


def menu_item_list(
    *, restaurant: Restaurant, ids: Iterable[int] | None = None
) -> QuerySet[MenuItem]:
    """Return a restaurant's menu items, only those with the given `ids` if given."""
    items = restaurant.menu_items.all()  # through the relation: each item's .restaurant is set
    return items if ids is None else items.filter(pk__in=ids)


def menu_item_get(*, restaurant: Restaurant, menu_item_id: int) -> MenuItem:
    """Return one item of a restaurant's menu, or raise NotFound (also for another's item)."""
    return _get(restaurant.menu_items.all(), "Menu item", pk=menu_item_id)


def _get(queryset: QuerySet, what: str, **lookup):
    try:
        return queryset.get(**lookup)
    except queryset.model.DoesNotExist:
        raise NotFound(f"{what} not found.") from None

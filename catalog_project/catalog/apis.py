"""HTTP API of the catalog: anyone reads, restaurant owners and admins write their own restaurants."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import cache, selectors, services
from catalog.models import Restaurant
from catalog.serializers import (
    MenuFilterSerializer,
    MenuItemInputSerializer,
    MenuItemSerializer,
    MenuSerializer,
    RestaurantDetailSerializer,
    RestaurantFilterSerializer,
    RestaurantInputSerializer,
    RestaurantPageSerializer,
    RestaurantSerializer,
)
from food_common.authentication import ROLE_ADMIN, ROLE_RESTAURANT_OWNER, HasRole
from food_common.schema import error_responses
from food_common.serializers import page_response, validated

CACHE_HEADER = "X-Cache"
X_CACHE = OpenApiParameter(
    CACHE_HEADER,
    str,
    OpenApiParameter.HEADER,
    response=[200],
    enum=list(cache.CacheStatus),
    description="HIT: served from Redis; MISS: from the database, now cached; BYPASS: Redis is down.",
)


READ_ERRORS = error_responses(400, 404)
WRITE_ERRORS = error_responses(400, 401, 403, 404)


class CatalogWritePermission(BasePermission):
    """Reads: anyone. Writes: restaurant owners on their own restaurants, admins on any."""

    message = "Only restaurant owners (on their own restaurants) and admins may change the catalog."
    writers = HasRole.of(ROLE_RESTAURANT_OWNER, ROLE_ADMIN)()

    def has_permission(self, request, view) -> bool:
        return request.method in SAFE_METHODS or self.writers.has_permission(request, view)

    def has_object_permission(self, request, view, restaurant: Restaurant) -> bool:
        if request.method in SAFE_METHODS:
            return True
        return request.user.is_admin or restaurant.owner_id == request.user.id


class CatalogApi(APIView):
    permission_classes = [CatalogWritePermission]

    def get_restaurant(self, restaurant_id: int) -> Restaurant:
        """Return the restaurant of the URL, or raise 404 / 403 (for writes by someone else)."""
        restaurant = selectors.restaurant_get(restaurant_id=restaurant_id)
        self.check_object_permissions(self.request, restaurant)
        return restaurant


class RestaurantListApi(CatalogApi):
    @extend_schema(
        operation_id="restaurants_list",
        summary="List restaurants (cached)",
        parameters=[RestaurantFilterSerializer, X_CACHE],
        responses={200: RestaurantPageSerializer, **READ_ERRORS},
        auth=[],
    )
    def get(self, request):
        # A plain dict, not the QueryDict: DRF reads a boolean missing from a QueryDict as False.
        raw_query = request.query_params.dict()

        def build() -> dict:
            # Validated only on a miss: a query string that is in the cache passed it before, and
            # an invalid one raises (400) before anything is stored. That keeps a hit cheap.
            query = validated(RestaurantFilterSerializer, raw_query)
            restaurants = selectors.restaurant_list(
                search=query.get("search", ""),
                cuisine=query.get("cuisine") or None,
                is_open=query.get("is_open"),
            )
            return page_response(self, restaurants, RestaurantSerializer).data

        # The page's next/previous links are absolute, so the base URL is part of the key.
        key = {"query": sorted(raw_query.items()), "base": request.build_absolute_uri(request.path)}
        data, cache_status = cache.list_page(key, build)
        return Response(data, headers={CACHE_HEADER: cache_status.value})

    @extend_schema(
        operation_id="restaurants_create",
        summary="Create a restaurant owned by the caller (restaurant_owner, admin)",
        description=(
            "`lat` and `lon` are required: where riders pick the restaurant's orders up. A `PATCH` "
            "changes them together (one alone is a 400) and never clears them."
        ),
        request=RestaurantInputSerializer,
        responses={201: RestaurantSerializer, **WRITE_ERRORS},
    )
    def post(self, request):
        data = validated(RestaurantInputSerializer, request.data)
        restaurant = services.restaurant_create(owner_id=request.user.id, **data)
        return Response(RestaurantSerializer(restaurant).data, status=status.HTTP_201_CREATED)


class RestaurantDetailApi(CatalogApi):
    @extend_schema(
        operation_id="restaurants_retrieve",
        summary="One restaurant with its whole menu (cached)",
        parameters=[X_CACHE],
        responses={200: RestaurantDetailSerializer, **error_responses(404)},
        auth=[],
    )
    def get(self, request, restaurant_id: int):
        def build() -> dict:
            restaurant = selectors.restaurant_get(restaurant_id=restaurant_id, with_menu=True)
            return RestaurantDetailSerializer(restaurant).data

        data, cache_status = cache.restaurant_detail(restaurant_id, build)
        return Response(data, headers={CACHE_HEADER: cache_status.value})

    @extend_schema(
        operation_id="restaurants_partial_update",
        summary="Change a restaurant (its owner, admin)",
        request=RestaurantInputSerializer(partial=True),
        responses={200: RestaurantSerializer, **WRITE_ERRORS},
    )
    def patch(self, request, restaurant_id: int):
        restaurant = self.get_restaurant(restaurant_id)
        data = validated(RestaurantInputSerializer, request.data, partial=True)
        restaurant = services.restaurant_update(restaurant=restaurant, data=data)
        return Response(RestaurantSerializer(restaurant).data)

    @extend_schema(
        operation_id="restaurants_destroy",
        summary="Delete a restaurant and its menu (its owner, admin)",
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def delete(self, request, restaurant_id: int):
        services.restaurant_delete(restaurant=self.get_restaurant(restaurant_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MenuApi(CatalogApi):
    @extend_schema(
        operation_id="restaurants_menu_list",
        summary="A restaurant's menu, or just the items in ?ids= (never cached)",
        description=(
            "The whole menu (at most 200 items, so not paginated) with the restaurant's `is_open` "
            "and position (`lat`, `lon`). With `?ids=1,2,3` only those items come back, read from "
            "the database, so the orders service can price an order in one call: it checks "
            "`restaurant.is_open` and its position (where a rider picks the order up), each item's "
            "`is_available` and `price`, and treats an id missing from `results` as not on this menu."
        ),
        parameters=[MenuFilterSerializer],
        responses={200: MenuSerializer, **READ_ERRORS},
        auth=[],
    )
    def get(self, request, restaurant_id: int):
        query = validated(MenuFilterSerializer, request.query_params.dict())
        restaurant = selectors.restaurant_get(restaurant_id=restaurant_id)
        items = list(selectors.menu_item_list(restaurant=restaurant, ids=query.get("ids")))
        menu = {"restaurant": restaurant, "count": len(items), "results": items}
        return Response(MenuSerializer(menu).data)

    @extend_schema(
        operation_id="restaurants_menu_create",
        summary="Add a menu item (the restaurant's owner, admin)",
        request=MenuItemInputSerializer,
        responses={201: MenuItemSerializer, **WRITE_ERRORS},
    )
    def post(self, request, restaurant_id: int):
        restaurant = self.get_restaurant(restaurant_id)
        data = validated(MenuItemInputSerializer, request.data)
        menu_item = services.menu_item_create(restaurant=restaurant, **data)
        return Response(MenuItemSerializer(menu_item).data, status=status.HTTP_201_CREATED)


class MenuItemApi(CatalogApi):
    def get_menu_item(self, restaurant_id: int, menu_item_id: int):
        restaurant = self.get_restaurant(restaurant_id)
        return selectors.menu_item_get(restaurant=restaurant, menu_item_id=menu_item_id)

    @extend_schema(
        operation_id="restaurants_menu_partial_update",
        summary="Change a menu item (the restaurant's owner, admin)",
        request=MenuItemInputSerializer(partial=True),
        responses={200: MenuItemSerializer, **WRITE_ERRORS},
    )
    def patch(self, request, restaurant_id: int, menu_item_id: int):
        menu_item = self.get_menu_item(restaurant_id, menu_item_id)
        data = validated(MenuItemInputSerializer, request.data, partial=True)
        menu_item = services.menu_item_update(menu_item=menu_item, data=data)
        return Response(MenuItemSerializer(menu_item).data)

    @extend_schema(
        operation_id="restaurants_menu_destroy",
        summary="Remove a menu item (the restaurant's owner, admin)",
        responses={204: None, **error_responses(401, 403, 404)},
    )
    def delete(self, request, restaurant_id: int, menu_item_id: int):
        services.menu_item_delete(menu_item=self.get_menu_item(restaurant_id, menu_item_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

from django.urls import path

from catalog import apis

# No trailing slashes: the gateway forwards the public paths unchanged.
urlpatterns = [
    path("restaurants", apis.RestaurantListApi.as_view(), name="restaurant-list"),
    path(
        "restaurants/<int:restaurant_id>",
        apis.RestaurantDetailApi.as_view(),
        name="restaurant-detail",
    ),
    path("restaurants/<int:restaurant_id>/menu", apis.MenuApi.as_view(), name="menu"),
    path(
        "restaurants/<int:restaurant_id>/menu/<int:menu_item_id>",
        apis.MenuItemApi.as_view(),
        name="menu-item",
    ),
]

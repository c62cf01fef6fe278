from django.urls import path

from catalog import apis

urlpatterns = [
    path("restaurants", apis.RestaurantListApi.as_view(), name="restaurant-list"),
]

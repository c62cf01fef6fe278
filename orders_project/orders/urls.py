from django.urls import path

from orders import apis

urlpatterns = [
    path("orders", apis.OrderListApi.as_view(), name="orders-list"),
]

from django.urls import path

from orders import apis

urlpatterns = [
    path("orders", apis.OrderListApi.as_view(), name="orders-list"),
    path("orders/<int:order_id>", apis.OrderDetailApi.as_view(), name="orders-detail"),
    path("orders/<int:order_id>/cancel", apis.OrderCancelApi.as_view(), name="orders-cancel"),
    path("orders/<int:order_id>/status", apis.OrderStatusApi.as_view(), name="orders-status"),
    path("orders/<int:order_id>/trail", apis.OrderTrailApi.as_view(), name="orders-trail"),
]

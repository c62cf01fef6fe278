from django.urls import include, path

from food_common.urls import common_urlpatterns, handler400, handler403, handler404, handler500  # noqa: F401

urlpatterns = [
    path("", include("orders.urls")),
    path("", include("notifications.urls")),
    *common_urlpatterns("orders"),
]

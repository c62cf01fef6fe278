from django.urls import include, path

from food_common.urls import common_urlpatterns, handler400, handler403, handler404, handler500  # noqa: F401

urlpatterns = [
    path("", include("delivery.urls")),
    *common_urlpatterns("delivery"),
]

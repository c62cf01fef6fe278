from django.contrib import admin
from django.urls import path

from food_common import health
from food_common.urls import not_found_fallback
from gateway import views

urlpatterns = [
    path("health", health.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("schema", views.schema, name="schema"),
    path("docs", views.docs, name="docs"),
    path("admin/gateway/", admin.site.urls),
    not_found_fallback(),
]

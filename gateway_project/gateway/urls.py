from django.conf import settings
from django.contrib import admin
from django.urls import path
from django.views.generic import TemplateView

from food_common import health
from food_common.urls import admin_site_titles, not_found_fallback
from gateway import views

admin_site_titles("gateway")

urlpatterns = [
    path("health", health.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("schema", views.schema, name="schema"),
    path("docs", views.docs, name="docs"),
    # The example client of the live updates (/ws/live): a static page, no build step.
    path("live", TemplateView.as_view(template_name="gateway/live.html"), name="live"),
    # The gateway's own admin, like the other four: on the public port only when turned on.
    *(
        [path("admin/", views.admins, name="admins"), path("admin/gateway/", admin.site.urls)]
        if settings.GATEWAY_PROXY_ADMIN
        else []
    ),
    not_found_fallback(),
]

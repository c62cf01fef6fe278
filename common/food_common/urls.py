"""URL patterns every service serves: health, readiness, its admin and its OpenAPI schema."""

from urllib.parse import urlencode

from django.contrib import admin
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from django_prometheus.exports import ExportToDjangoView
from drf_spectacular.views import SpectacularAPIView

from food_common import errors, health


def common_urlpatterns(service: str) -> list:
    """Return /health, /ready, /schema, /metrics and /admin/<service>/ for `service`."""
    admin_site_titles(service)
    return [
        path("health", health.health, name="health"),
        path("ready", health.ready, name="ready"),
        path("schema", SpectacularAPIView.as_view(), name="schema"),
        # For Prometheus inside the network; the gateway never forwards /metrics.
        path("metrics", ExportToDjangoView, name="metrics"),
        path(f"admin/{service}/", admin.site.urls),
        not_found_fallback(),
    ]


def admin_site_titles(service: str) -> None:
    """Name the admin after its service ("Food · orders"); "View site" leads to every admin.

    `/admin/` is the gateway's index of all admins, /docs and Flower (reached through the gateway).
    """
    admin.site.site_header = f"Food · {service}"
    admin.site.site_title = f"Food · {service} admin"
    admin.site.index_title = f"{service.capitalize()} administration"
    admin.site.site_url = "/admin/"


def admin_page(service: str, model: str, pk=None, **query) -> str:
    """Return the path of a page of `service`'s admin, for links from one admin to another.

    `model` is "<app label>.<model name>": with `pk` its change page, else its list filtered by
    `query` (`order_id=7`). Every admin is at /admin/<service>/ (above), so through the gateway
    (GATEWAY_PROXY_ADMIN) one admin links to another by its path.
    """
    app_label, model_name = model.lower().split(".")
    url = f"/admin/{service}/{app_label}/{model_name}/"
    if pk is not None:
        return f"{url}{pk}/change/"
    return f"{url}?{urlencode(query)}" if query else url


def not_found_fallback():
    """Return a last pattern that answers any unknown path with JSON 404, even when DEBUG is on.

    CSRF-exempt: a POST to a path that does not exist is a 404, not a CSRF failure.
    """
    return re_path(r"^", csrf_exempt(errors.handler404))


handler400 = errors.handler400
handler403 = errors.handler403
handler404 = errors.handler404
handler500 = errors.handler500

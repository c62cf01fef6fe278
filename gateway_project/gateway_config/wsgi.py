"""WSGI entry point of the gateway: the forwarding fast path wrapped around the Django app."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_config.settings")
django_application = get_wsgi_application()

from django.conf import settings  # noqa: E402
from gateway.metrics_server import start_metrics_server  # noqa: E402
from gateway.proxy import GatewayApplication  # noqa: E402 - needs settings configured first

application = GatewayApplication(django_application)

if settings.GATEWAY_METRICS_PORT:
    start_metrics_server(settings.GATEWAY_METRICS_PORT, settings.GATEWAY_METRICS_BIND)

"""ASGI entry point of the gateway: the forwarding path (HTTP and WebSocket) around Django's app.

Served by granian's ASGI interface (`bin/serve gateway`). Django's ASGI handler serves only the
gateway's own pages (health, readiness, schema, docs, its admin); proxied paths never enter it.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_config.settings")
django_application = get_asgi_application()

from django.conf import settings  # noqa: E402
from gateway.metrics_server import start_metrics_server  # noqa: E402
from gateway.proxy import GatewayApplication  # noqa: E402 - needs settings configured first

application = GatewayApplication(django_application)

if settings.GATEWAY_METRICS_PORT:
    start_metrics_server(settings.GATEWAY_METRICS_PORT, settings.GATEWAY_METRICS_BIND)

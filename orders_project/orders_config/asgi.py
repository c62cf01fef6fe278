"""ASGI entry point of the live-updates server (`bin/serve live`): WebSockets of Django Channels.

`/ws/live` is the notifications app's LiveConsumer, reached through the gateway's `/ws/...`
relay; plain HTTP is the orders project's Django (its `/health` and `/ready` for probes). The
orders API itself is served by the WSGI processes (`bin/serve orders`), not by this one.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_config.settings")
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path, re_path  # noqa: E402
from notifications.consumers import LiveConsumer, NotFoundConsumer  # noqa: E402 - needs settings

application = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": URLRouter(
            [
                path("ws/live", LiveConsumer.as_asgi()),
                re_path(r"", NotFoundConsumer.as_asgi()),
            ]
        ),
    }
)

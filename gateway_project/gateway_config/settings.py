"""Settings of the gateway: the single public entry point that checks tokens and forwards requests."""

from food_common.env import env_bool, env_float, env_int, env_list, env_str
from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import INSTALLED_APPS, service_settings

globals().update(service_settings("gateway", database="food_gateway"))

# drf_spectacular_sidecar: /docs loads Swagger UI from the gateway's own static files
# (/static/gateway/..., served by WhiteNoise after collectstatic), never from a CDN.
INSTALLED_APPS = [*INSTALLED_APPS, "drf_spectacular_sidecar", "gateway"]
SPECTACULAR_SETTINGS = {
    **SPECTACULAR_SETTINGS,  # noqa: F405 - service_settings' value
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # The token entered under "Authorize" survives a page reload.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "persistAuthorization": True},
}

# Each upstream is a comma-separated list of base URLs (copies of the service); requests are spread
# round-robin over the copies whose circuit is closed.
UPSTREAMS = {
    "auth": env_list("AUTH_SERVICE_URLS", "http://127.0.0.1:4001"),
    "catalog": env_list("CATALOG_SERVICE_URLS", "http://127.0.0.1:4002"),
    "orders": env_list("ORDERS_SERVICE_URLS", "http://127.0.0.1:4003"),
    "payments": env_list("PAYMENTS_SERVICE_URLS", "http://127.0.0.1:4004"),
    "delivery": env_list("DELIVERY_SERVICE_URLS", "http://127.0.0.1:4005"),
    "flower": env_list("FLOWER_URLS", "http://127.0.0.1:5555"),
    # What serves live updates over WebSockets (the orders project's `live` process, ws/live):
    # /ws/... is carried there once the token checks.
    "live": env_list("LIVE_UPDATES_URLS", "http://127.0.0.1:4006"),
}
GATEWAY_CONNECT_TIMEOUT = env_float("GATEWAY_CONNECT_TIMEOUT", 1.0)
# Per-upstream read timeout: <NAME>_READ_TIMEOUT (e.g. PAYMENTS_READ_TIMEOUT=15), else this default.
GATEWAY_READ_TIMEOUT = env_float("GATEWAY_READ_TIMEOUT", 10.0)
# Payments waits for the orders service and the payment provider: give it more by default.
GATEWAY_READ_TIMEOUTS = {
    name: env_float(
        f"{name.upper()}_READ_TIMEOUT", 15.0 if name == "payments" else GATEWAY_READ_TIMEOUT
    )
    for name in UPSTREAMS
}
GATEWAY_CIRCUIT_THRESHOLD = env_int("GATEWAY_CIRCUIT_THRESHOLD", 3)
GATEWAY_CIRCUIT_RESET_SECONDS = env_float("GATEWAY_CIRCUIT_RESET_SECONDS", 5.0)
GATEWAY_MAX_BODY_BYTES = env_int("GATEWAY_MAX_BODY_BYTES", 1024 * 1024)
# Requests per client (token subject, else IP) per window; "0" turns the limit off.
GATEWAY_RATE_LIMIT = env_str("GATEWAY_RATE_LIMIT", "100/s")
GATEWAY_RATE_LIMIT_REDIS_URL = env_str("GATEWAY_RATE_LIMIT_REDIS_URL", REDIS_URL)  # noqa: F405
GATEWAY_ACCESS_LOG = env_bool("GATEWAY_ACCESS_LOG", True)
# Clients get the same discipline as upstreams. Headers must arrive within GATEWAY_HEADER_TIMEOUT
# (the server closes the connection: granian's --http1-header-read-timeout, set by bin/serve) and
# the whole body within GATEWAY_BODY_TIMEOUT (408 JSON); one client address may have at most
# GATEWAY_MAX_INFLIGHT_PER_CLIENT requests and WebSockets in progress at once (429 JSON; 0 = no cap).
GATEWAY_HEADER_TIMEOUT = env_float("GATEWAY_HEADER_TIMEOUT", 10.0)
GATEWAY_BODY_TIMEOUT = env_float("GATEWAY_BODY_TIMEOUT", 10.0)
GATEWAY_MAX_INFLIGHT_PER_CLIENT = env_int("GATEWAY_MAX_INFLIGHT_PER_CLIENT", 100)
# Proxies in front of the gateway whose X-Forwarded-For it trusts: 0 locally (clients connect to it),
# 1 behind the Kubernetes ingress. The client address (rate limit, in-flight cap, the admin's
# lockout) is then the GATEWAY_NUM_PROXIES-th X-Forwarded-For entry from the end, DRF's rule; the
# services behind it trust one more (NUM_PROXIES). Not NUM_PROXIES itself: one ConfigMap sets both.
GATEWAY_NUM_PROXIES = env_int("GATEWAY_NUM_PROXIES", 0)
REST_FRAMEWORK = {**REST_FRAMEWORK, "NUM_PROXIES": GATEWAY_NUM_PROXIES}  # noqa: F405
# A WebSocket without a token in Sec-WebSocket-Protocol must send it as its first message within
# this many seconds, else it is closed (4401) before anything is forwarded.
GATEWAY_WS_AUTH_TIMEOUT = env_float("GATEWAY_WS_AUTH_TIMEOUT", 5.0)
# Operator surfaces, off the public port unless turned on (`make up` and compose.yml turn them on):
# each project's admin at /admin/<project>/ and Flower at /flower/. With DEBUG off the gateway
# refuses to start with them on and a default or empty password (gateway.checks).
# Browser front ends allowed to call the API (CORS, gateway.cors): exact origins, comma-separated
# (`make up` allows http://localhost:3000 and http://127.0.0.1:3000); none by default.
GATEWAY_CORS_ALLOWED_ORIGINS = env_list("GATEWAY_CORS_ALLOWED_ORIGINS", "")
GATEWAY_CORS_MAX_AGE = env_int("GATEWAY_CORS_MAX_AGE", 600)
GATEWAY_PROXY_ADMIN = env_bool("GATEWAY_PROXY_ADMIN", False)
GATEWAY_PROXY_FLOWER = env_bool("GATEWAY_PROXY_FLOWER", False)

READY_CHECKS = {
    "database": "food_common.health.check_database",
    "redis": "food_common.health.check_redis",
}

# The gateway's Prometheus metrics (per-upstream latency, errors, circuit state, and Django's) are
# served on a port of their own, so they are never reachable through the public port; 0 = off.
GATEWAY_METRICS_PORT = env_int("GATEWAY_METRICS_PORT", 9108)
GATEWAY_METRICS_BIND = env_str("GATEWAY_METRICS_BIND", env_str("BIND_HOST", "127.0.0.1"))

# The gateway is an ASGI application (gateway_config/asgi.py, served by granian's ASGI interface);
# there is no WSGI entry point, so `runserver` would serve only the Django pages, not the proxy.
WSGI_APPLICATION = None
ASGI_APPLICATION = "gateway_config.asgi.application"

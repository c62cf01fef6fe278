"""Which upstream serves a path, and whether the gateway must see a valid token first.

Paths are forwarded unchanged: each service serves its own public prefix (`/auth/...`,
`/restaurants...`, `/orders...`, `/notifications...`, `/payments...`, `/riders...`,
`/deliveries...`). Anything else (health,
readiness, the merged OpenAPI schema and docs, the gateway's own admin) is the gateway's Django app.
"""

from dataclasses import dataclass

from django.conf import settings

PUBLIC_AUTH_PATHS = {
    ("POST", "/auth/register"),
    ("POST", "/auth/login"),
    ("POST", "/auth/refresh"),
    ("GET", "/auth/.well-known/jwks.json"),
    ("HEAD", "/auth/.well-known/jwks.json"),
}
READ_METHODS = {"GET", "HEAD", "OPTIONS"}
API_PREFIXES = {
    "auth": "auth",
    "restaurants": "catalog",
    "orders": "orders",
    "notifications": "orders",
    "payments": "payments",
    "riders": "delivery",
    "deliveries": "delivery",
}
PROJECTS = {"auth", "catalog", "orders", "payments", "delivery"}


@dataclass(frozen=True)
class Route:
    upstream: str
    protected: bool


def resolve(method: str, path: str) -> Route | None:
    """Return the route for a request, or None when the gateway's own Django app answers it."""
    first, _, rest = path[1:].partition("/")
    upstream = API_PREFIXES.get(first)
    if upstream == "auth":
        return Route("auth", (method, path) not in PUBLIC_AUTH_PATHS)
    if upstream == "catalog":
        return Route("catalog", method not in READ_METHODS)
    if upstream:
        return Route(upstream, True)
    if first in ("admin", "static") and settings.GATEWAY_PROXY_ADMIN:
        project = rest.partition("/")[0]
        if project in PROJECTS:
            # The project's own admin login protects it (staff accounts in its own database).
            return Route(project, False)
    if first == "flower" and settings.GATEWAY_PROXY_FLOWER:
        return Route("flower", False)  # Flower's own basic auth protects it.
    return None

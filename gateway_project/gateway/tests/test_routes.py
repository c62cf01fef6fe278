import pytest

from gateway.routes import Route, resolve


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/auth/register", Route("auth", False)),
        ("POST", "/auth/login", Route("auth", False)),
        ("POST", "/auth/refresh", Route("auth", False)),
        ("GET", "/auth/.well-known/jwks.json", Route("auth", False)),
        ("GET", "/auth/me", Route("auth", True)),
        ("POST", "/auth/logout", Route("auth", True)),
        ("GET", "/restaurants", Route("catalog", False)),
        ("GET", "/restaurants/3/menu", Route("catalog", False)),
        ("POST", "/restaurants", Route("catalog", True)),
        ("PATCH", "/restaurants/3", Route("catalog", True)),
        ("GET", "/orders", Route("orders", True)),
        ("GET", "/notifications", Route("orders", True)),
        ("POST", "/payments", Route("payments", True)),
        ("PUT", "/riders/me/location", Route("delivery", True)),
        ("GET", "/riders", Route("delivery", True)),
        ("GET", "/deliveries/7", Route("delivery", True)),
        ("POST", "/deliveries/7/accept", Route("delivery", True)),
        ("GET", "/admin/delivery/", Route("delivery", False)),
        ("GET", "/static/delivery/admin/css/base.css", Route("delivery", False)),
        ("GET", "/admin/catalog/", Route("catalog", False)),
        ("GET", "/static/orders/admin/css/base.css", Route("orders", False)),
        ("GET", "/flower/", Route("flower", False)),
        ("GET", "/health", None),
        ("GET", "/schema", None),
        ("GET", "/admin/gateway/", None),
        ("GET", "/restaurantsX", None),
        ("GET", "/ridersX", None),
        ("GET", "/admin/unknown/", None),
    ],
)
def test_resolve(settings, method, path, expected):
    settings.GATEWAY_PROXY_ADMIN = True  # off by default; `make up` turns them on
    settings.GATEWAY_PROXY_FLOWER = True
    assert resolve(method, path) == expected


def test_admin_and_flower_proxying_is_off_when_switched_off(settings):
    settings.GATEWAY_PROXY_ADMIN = False
    settings.GATEWAY_PROXY_FLOWER = False
    assert resolve("GET", "/admin/catalog/") is None
    assert resolve("GET", "/flower/") is None

"""CORS at the gateway: preflights answered without a token, allowed origins only."""

import pytest

from gateway.proxy import GatewayApplication
from gateway.tests.conftest import RECEIVED
from gateway.tests.test_proxy import Gateway

ALLOWED = "http://localhost:3000"


@pytest.fixture
def gateway(settings, upstream_url):
    settings.UPSTREAMS = {**settings.UPSTREAMS, "orders": [upstream_url], "catalog": [upstream_url]}
    settings.GATEWAY_RATE_LIMIT = "0"
    settings.GATEWAY_CORS_ALLOWED_ORIGINS = [ALLOWED, "http://127.0.0.1:3000"]

    async def django_app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"django"})

    gateway = Gateway(GatewayApplication(django_app=django_app))
    RECEIVED.clear()
    yield gateway
    gateway.close()


def preflight(gateway, origin: str):
    return gateway.call(
        "OPTIONS",
        b"/orders",
        headers=[
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "authorization, content-type"),
        ],
    )


def test_a_preflight_from_an_allowed_origin_is_answered_without_a_token(gateway):
    status, headers, body = preflight(gateway, ALLOWED)
    assert status == 204 and body == b""
    assert headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in headers["access-control-allow-methods"]
    assert "authorization" in headers["access-control-allow-headers"]
    assert headers["access-control-max-age"] == "600"
    assert "access-control-allow-credentials" not in headers
    assert RECEIVED == []  # no service saw it


def test_a_preflight_from_another_origin_gets_no_cors_headers(gateway):
    status, headers, _ = preflight(gateway, "http://evil.example")
    assert status == 204
    assert not any(name.startswith("access-control-") for name in headers)
    assert RECEIVED == []


def test_answers_to_an_allowed_origin_carry_its_origin_errors_included(gateway):
    status, headers, _ = gateway.call("GET", b"/restaurants", headers=[("Origin", ALLOWED)])
    assert status == 200
    assert headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in headers["access-control-expose-headers"]
    status, headers, _ = gateway.call("GET", b"/orders", headers=[("Origin", ALLOWED)])
    assert status == 401  # the gateway's own JSON refusal: the browser may read it
    assert headers["access-control-allow-origin"] == ALLOWED


def test_answers_to_another_or_no_origin_carry_none(gateway):
    for headers_sent in ([("Origin", "http://evil.example")], []):
        status, headers, _ = gateway.call("GET", b"/restaurants", headers=headers_sent)
        assert status == 200
        assert "access-control-allow-origin" not in headers


def test_an_options_request_that_is_no_preflight_is_forwarded(gateway):
    status, headers, _ = gateway.call("OPTIONS", b"/restaurants", headers=[("Origin", ALLOWED)])
    assert status == 501  # the stand-in service's own answer: it has no OPTIONS handler
    assert headers["access-control-allow-origin"] == ALLOWED

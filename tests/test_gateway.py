"""The gateway: spreading over copies, failover, 503 when none answers, recovery, request ids,
bad input (JSON errors at the gateway and at every service), schema, docs and readiness."""

import time
import uuid
from html.parser import HTMLParser

import pytest

from tests.client import wait_for


def access_lines(process, path: str) -> int:
    return sum(1 for line in process.log().splitlines() if f'"path": "{path}"' in line)


@pytest.fixture
def both_catalogs_running(stack):
    yield
    for copy in range(2):
        if not stack.server("catalog", copy).running:
            stack.start_server("catalog", copy)


def test_requests_spread_over_copies_survive_one_kill_and_recover(
    api, stack, both_catalogs_running
):
    copies = [stack.server("catalog", i) for i in range(2)]
    before = [access_lines(c, "/restaurants") for c in copies]
    for _ in range(10):
        assert api.get("/restaurants").status == 200
    after = [access_lines(c, "/restaurants") for c in copies]
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)

    # Kill one copy: every request still succeeds.
    copies[0].kill()
    for _ in range(10):
        reply = api.get("/restaurants")
        assert reply.status == 200, reply

    # Kill both: a JSON 503, quickly (connection refused, then an open circuit).
    copies[1].kill()
    started = time.monotonic()
    reply = api.get("/restaurants")
    assert reply.status == 503, reply
    assert reply.json()["code"] == "upstream_unavailable"
    assert time.monotonic() - started < 3
    # The gateway itself stays ready (one service down must not empty a load balancer); the
    # public port says only "degraded" (within a second: it keeps its answer that long), the
    # internal port says which upstream.
    wait_for(
        lambda: api.get("/ready").json() == {"status": "degraded"},
        timeout=3,
        message="the public /ready to say degraded",
    )
    details = api.get("/ready", base_url=f"http://127.0.0.1:{stack.gateway_metrics_port}")
    assert details.status == 200 and details.json()["degraded"] == ["catalog"], details

    # One copy comes back: the gateway recovers once the circuit lets a trial through.
    stack.start_server("catalog", 1)
    deadline = time.monotonic() + 15
    while (reply := api.get("/restaurants")).status != 200 and time.monotonic() < deadline:
        time.sleep(0.3)
    assert reply.status == 200, reply


def test_request_id_reaches_the_service_log_line(api, stack):
    request_id = f"e2e-{uuid.uuid4().hex}"
    reply = api.get("/restaurants", headers={"X-Request-ID": request_id})
    assert reply.status == 200
    assert reply.headers["X-Request-ID"] == request_id
    logs = "".join(stack.server("catalog", i).log() for i in range(2))
    assert f'"request_id": "{request_id}"' in logs


def test_gateway_generates_a_request_id_when_none_is_sent(api):
    assert len(api.get("/restaurants").headers["X-Request-ID"]) >= 16


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"email": 5, "password": ["x"]}', b"[]", b'"a string"'],
    ids=["malformed", "wrong-types", "list", "string"],
)
def test_bad_json_bodies_get_400_json(api, body):
    reply = api.request("POST", "/auth/register", body=body)
    assert reply.status == 400, reply
    assert reply.json()["code"] in ("parse_error", "invalid"), reply


def test_oversize_body_is_413_json_at_gateway_and_service(api, stack, customer):
    big = b'{"email": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    at_gateway = api.request("POST", "/auth/register", body=big)
    assert at_gateway.status == 413 and at_gateway.json()["code"] == "request_too_large", at_gateway
    direct = api.request("POST", "/auth/register", body=big, base_url=stack.url("auth"))
    assert direct.status == 413 and direct.json()["code"] == "request_too_large", direct


def test_unknown_path_and_method_get_json_errors(api, customer):
    assert api.get("/nowhere").json()["code"] == "not_found"
    reply = api.request("DELETE", "/auth/me", token=customer["access"])
    assert reply.status == 405 and reply.json()["code"] == "method_not_allowed"


def test_schema_merges_every_service_and_docs_render(api):
    schema = api.get("/schema").json()
    assert {
        "/auth/register",
        "/auth/login",
        "/restaurants",
        "/orders",
        "/payments",
        "/riders/me/location",
        "/deliveries/{delivery_id}",
    } <= schema["paths"].keys()
    docs = api.get("/docs", headers={"Accept": "text/html"})
    assert docs.status == 200 and b"/schema" in docs.body


def test_ready_reports_each_upstream_on_the_internal_port_only(api, stack):
    # An earlier test's "degraded" may stand for up to a second.
    public = wait_for(
        lambda: (reply := api.get("/ready")).json() == {"status": "ok"} and reply,
        timeout=3,
        message="the public /ready to say ok",
    )
    assert public.status == 200, public
    reply = api.get("/ready", base_url=f"http://127.0.0.1:{stack.gateway_metrics_port}")
    assert reply.status == 200, reply
    body = reply.json()
    assert set(body["upstreams"]) == {"auth", "catalog", "orders", "payments", "delivery"}
    assert body["upstreams"]["catalog"][stack.url("catalog", 1)] == "ok"


# --- hostile input: a JSON error at the gateway and at every service ----------------------------

SERVICE_PATHS = {
    "auth": "/auth/me",
    "catalog": "/restaurants",
    "orders": "/orders",
    "payments": "/payments",
    "delivery": "/deliveries",
}


def assert_json_error(reply, status: int, code: str) -> None:
    assert reply.status == status, reply
    assert reply.headers["Content-Type"] == "application/json", reply
    body = reply.json()
    assert body["code"] == code, reply
    assert body["request_id"] == reply.headers["X-Request-ID"], reply
    assert b"Traceback" not in reply.body and b"settings" not in reply.body.lower()


@pytest.mark.parametrize("where", ["gateway", "gateway-forwarded", *SERVICE_PATHS])
def test_a_bad_host_header_is_a_json_400(api, stack, where):
    if where == "gateway":  # the gateway's own page
        reply = api.get("/health", headers={"Host": "bad!host"})
    elif where == "gateway-forwarded":  # forwarded as it came: the service refuses it
        reply = api.get("/restaurants", headers={"Host": "bad!host"})
    else:
        reply = api.get(
            SERVICE_PATHS[where], headers={"Host": "bad!host"}, base_url=stack.url(where)
        )
    assert_json_error(reply, 400, "bad_request")


NESTED = b"[" * 1000 + b"]" * 1000  # 2 KB: deeper than Python's JSON parser goes


def test_deeply_nested_json_is_400_through_the_gateway_and_at_a_service(api, stack, customer):
    assert_json_error(api.request("POST", "/auth/register", body=NESTED), 400, "parse_error")
    assert_json_error(
        api.request("POST", "/orders", body=NESTED, token=customer["access"]), 400, "parse_error"
    )
    direct = api.request("POST", "/auth/login", body=NESTED, base_url=stack.url("auth"))
    assert_json_error(direct, 400, "parse_error")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_any_method_to_an_unknown_path_is_json_404_at_every_service(api, stack, customer, method):
    for service in SERVICE_PATHS:
        reply = api.request(
            method,
            "/orders/6/cancle" if service == "orders" else "/no/such/path",
            body=b"{}",
            token=customer["access"],
            headers={"Cookie": f"{service}_sessionid=x; {service}_csrftoken=y"},
            base_url=stack.url(service),
        )
        assert_json_error(reply, 404, "not_found")
    through_gateway = api.request("POST", "/orders/6/cancle", body=b"{}", token=customer["access"])
    assert_json_error(through_gateway, 404, "not_found")


class _Assets(HTMLParser):
    """The URLs of the scripts, stylesheets and icons a page loads."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        elif tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


ASSET_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


def test_docs_and_every_asset_they_load_come_from_the_gateway(api):
    page = api.get("/docs", headers={"Accept": "text/html"})
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html"), page
    assert b"cdn" not in page.body.lower() and b"persistAuthorization" in page.body
    parser = _Assets()
    parser.feed(page.body.decode())
    assert len(parser.urls) >= 4, parser.urls  # icon, stylesheet, bundle, preset
    for url in parser.urls:
        # The gateway's own static files (its public port, GATEWAY_PROXY_ADMIN off), no CDN.
        assert url.startswith("/static/gateway/"), url
        reply = api.get(url, headers={"Accept": "*/*"})
        assert reply.status == 200, (url, reply)
        content_type = reply.headers["Content-Type"].split(";")[0]
        assert content_type in ASSET_TYPES[url[url.rindex(".") :]], (url, content_type)
        assert len(reply.body) > 100, url

"""The gateway: spreading over copies, failover, 503 when none answers, recovery, request ids,
bad input, schema and readiness."""

import time
import uuid

import pytest


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
    # public port says only "degraded", the internal port says which upstream.
    ready = api.get("/ready")
    assert ready.status == 200 and ready.json() == {"status": "degraded"}, ready
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
    assert {"/auth/register", "/auth/login", "/restaurants", "/orders", "/payments"} <= schema[
        "paths"
    ].keys()
    docs = api.get("/docs", headers={"Accept": "text/html"})
    assert docs.status == 200 and b"/schema" in docs.body


def test_ready_reports_each_upstream_on_the_internal_port_only(api, stack):
    public = api.get("/ready")
    assert public.status == 200 and public.json() == {"status": "ok"}, public
    reply = api.get("/ready", base_url=f"http://127.0.0.1:{stack.gateway_metrics_port}")
    assert reply.status == 200, reply
    body = reply.json()
    assert set(body["upstreams"]) == {"auth", "catalog", "orders", "payments"}
    assert body["upstreams"]["catalog"][stack.url("catalog", 1)] == "ok"

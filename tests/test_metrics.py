"""Prometheus metrics: the domain counters move with the walkthrough flow; the public gateway
never serves /metrics."""

import urllib.request
import uuid

from prometheus_client.parser import text_string_to_metric_families

from tests.client import order_body, wait_for


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Return {(sample name, sorted labels): value} of a /metrics page."""
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(metrics: dict, name: str, **labels) -> float:
    """Return the sum of the samples of `name` whose labels include `labels`."""
    return sum(v for (n, ls), v in metrics.items() if n == name and set(labels.items()) <= set(ls))


def test_domain_metrics_move_with_an_order_and_its_payment(api, stack, menu, customer):
    orders_url, payments_url = f"{stack.url('orders')}/metrics", f"{stack.url('payments')}/metrics"
    gateway_url = f"http://127.0.0.1:{stack.gateway_metrics_port}/metrics"
    before = {
        "orders": scrape(orders_url),
        "payments": scrape(payments_url),
        "gateway": scrape(gateway_url),
    }

    order = api.post("/orders", order_body(menu), token=customer["access"]).json()
    paid = api.post(
        "/payments",
        {"order_id": order["id"], "card_number": "4242424242424242"},
        token=customer["access"],
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert paid.status == 201, paid
    wait_for(
        lambda: (
            api.get(f"/orders/{order['id']}", token=customer["access"]).json()["status"] == "PAID"
        ),
        message="the order to be paid",
    )

    orders = scrape(orders_url)
    assert (
        value(orders, "food_orders", status="PAID")
        == value(before["orders"], "food_orders", status="PAID") + 1
    )
    assert value(orders, "food_events_published_total", type="order.created") == (
        value(before["orders"], "food_events_published_total", type="order.created") + 1
    )
    assert value(orders, "food_events_handled_total", type="payment.succeeded") >= (
        value(before["orders"], "food_events_handled_total", type="payment.succeeded") + 1
    )
    assert ("food_celery_queue_length", (("queue", "notifications"),)) in orders
    assert value(orders, "django_http_requests_total_by_view_transport_method_total") > value(
        before["orders"], "django_http_requests_total_by_view_transport_method_total"
    )

    payments = scrape(payments_url)
    assert value(payments, "food_payments", status="SUCCEEDED") == (
        value(before["payments"], "food_payments", status="SUCCEEDED") + 1
    )
    assert value(payments, "food_events_published_total", type="payment.succeeded") == (
        value(before["payments"], "food_events_published_total", type="payment.succeeded") + 1
    )

    gateway = scrape(gateway_url)
    assert value(gateway, "food_gateway_requests_total", upstream="payments", status="2xx") > (
        value(before["gateway"], "food_gateway_requests_total", upstream="payments", status="2xx")
    )
    assert value(gateway, "food_gateway_upstream_seconds_count", upstream="orders") > value(
        before["gateway"], "food_gateway_upstream_seconds_count", upstream="orders"
    )
    assert (
        "food_gateway_circuit_open",
        (("copy", stack.url("catalog", 0)), ("upstream", "catalog")),
    ) in gateway


def test_the_public_gateway_does_not_serve_metrics(api):
    reply = api.get("/metrics")
    assert reply.status == 404 and reply.json()["code"] == "not_found"

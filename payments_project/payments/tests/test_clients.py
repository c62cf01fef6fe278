"""The orders client's reading of HTTP answers (the HTTP path itself is in the cross-service tests)."""

import json
from decimal import Decimal

import pytest

from food_common.http import ServiceResponse, UpstreamError
from payments.clients import OrderNotFound, OrdersBadAnswer, OrdersClient, PayableOrder

ORDER = {
    "id": 12,
    "status": "PLACED",
    "payable": True,
    "customer_id": 7,
    "total": "33.5",
    "currency": "EUR",
    "delivery_address": "10 Home St",
}


class FakeService:
    def __init__(self, status: int, body: bytes):
        self.answer = ServiceResponse("orders", status, body, {})
        self.requests = []

    def request(self, method, path, *, token=None, **kwargs):
        self.requests.append((method, path, token))
        return self.answer


def order_get(answer) -> PayableOrder:
    service = FakeService(200, json.dumps(answer).encode())
    return OrdersClient(service).order_get(order_id=12, token="tok")


def test_the_order_is_read_with_the_callers_token_into_a_payable_order():
    service = FakeService(200, json.dumps(ORDER).encode())

    order = OrdersClient(service).order_get(order_id=12, token="tok")

    assert order == PayableOrder(
        id=12,
        customer_id=7,
        status="PLACED",
        total=Decimal("33.50"),
        currency="EUR",
        payable=True,
    )
    assert service.requests == [("GET", "/orders/12", "tok")]


def test_an_order_that_may_not_be_paid_and_one_without_a_customer_are_read_too():
    order = order_get({k: v for k, v in ORDER.items() if k != "customer_id"} | {"payable": False})

    assert (order.payable, order.customer_id, order.status) == (False, None, "PLACED")


@pytest.mark.parametrize(
    "change",
    [
        {"id": 13},
        {"total": "0.001"},
        {"total": "10000000000"},
        {"total": None},
        {"currency": "eur"},
        {"payable": 1},
        {"customer_id": "seven"},
        {"status": None},
        {"payable": None},
    ],
)
def test_an_order_payments_cannot_charge_is_a_bad_answer(change):
    with pytest.raises(OrdersBadAnswer):
        order_get({**ORDER, **change})


@pytest.mark.parametrize("missing", ["id", "status", "total", "currency", "payable"])
def test_an_order_missing_a_field_is_a_bad_answer(missing):
    with pytest.raises(OrdersBadAnswer, match=missing):
        order_get({k: v for k, v in ORDER.items() if k != missing})


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (404, b"{}", OrderNotFound),
        (403, b"{}", OrderNotFound),
        (500, b"", UpstreamError),
        (503, b"{}", UpstreamError),
        (401, b"{}", OrdersBadAnswer),
        (200, b"<html>", OrdersBadAnswer),
        (200, b"[1]", OrdersBadAnswer),
    ],
)
def test_other_answers_raise(status, body, error):
    with pytest.raises(error):
        OrdersClient(FakeService(status, body)).order_get(order_id=12, token="tok")

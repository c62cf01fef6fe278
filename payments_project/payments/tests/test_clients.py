"""The orders client's reading of HTTP answers (the HTTP path itself is in the cross-service tests)."""

import json

import pytest

from food_common.http import ServiceResponse, UpstreamError
from payments.clients import OrderNotFound, OrdersBadAnswer, OrdersClient


class FakeService:
    def __init__(self, status: int, body: bytes):
        self.answer = ServiceResponse("orders", status, body, {})
        self.requests = []

    def request(self, method, path, *, token=None, **kwargs):
        self.requests.append((method, path, token))
        return self.answer


def test_the_order_is_read_with_the_callers_token():
    order = {"id": 12, "status": "PLACED", "total": "33.00", "currency": "EUR"}
    service = FakeService(200, json.dumps(order).encode())

    assert OrdersClient(service).order_get(order_id=12, token="tok") == order
    assert service.requests == [("GET", "/orders/12", "tok")]


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

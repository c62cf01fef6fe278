"""Stand-ins for what lies outside payments: the orders service, and a provider that counts calls."""

import json
import threading
from decimal import Decimal

import jwt

from food_common.http import ServiceResponse, UpstreamError
from payments.provider import MockProvider, PaymentProvider


class FakeOrders:
    """The orders service's `GET /orders/{id}`: the order for its customer, 404 for anyone else.

    It stands in for the orders service's HTTP answers (`OrdersClient(FakeOrders())`), so the
    real client reads them. Like the real service, it knows the caller from the forwarded token.
    """

    def __init__(self):
        self.orders: dict[int, dict] = {}
        self.calls: list[int] = []
        self.down: str | None = None  # "unavailable" or "timeout"
        self.answer: object = None  # when set, answered as is (a malformed answer)

    def add(
        self,
        order_id: int,
        *,
        customer_id: int,
        status: str = "PLACED",
        payable: bool = True,
        total: str = "33.00",
        currency: str = "EUR",
    ) -> dict:
        order = {
            "id": order_id,
            "status": status,
            "payable": payable,
            "customer_id": customer_id,
            "restaurant_id": 3,
            "subtotal": total,
            "total": total,
            "currency": currency,
        }
        self.orders[order_id] = order
        return order

    def request(self, method: str, path: str, *, token: str | None = None, **kwargs):
        assert method == "GET" and path.startswith("/orders/"), (method, path)
        order_id = int(path.removeprefix("/orders/"))
        self.calls.append(order_id)
        if self.down:
            raise UpstreamError("orders", self.down, f"orders: {self.down}")
        if self.answer is not None:
            return self._response(200, self.answer)
        caller = int(jwt.decode(token, options={"verify_signature": False})["sub"])
        order = self.orders.get(order_id)
        if order is None or order["customer_id"] != caller:
            return self._response(404, {"detail": "Order not found.", "code": "not_found"})
        return self._response(200, order)

    @staticmethod
    def _response(status: int, body: object) -> ServiceResponse:
        return ServiceResponse("orders", status, json.dumps(body).encode(), {})


class CountingProvider:
    """The real MockProvider, counting what it is asked (never keeping card numbers)."""

    def __init__(self, inner: PaymentProvider | None = None):
        self.inner = inner or MockProvider()
        self.charges: list[dict] = []
        self.refunds: list[dict] = []
        self._lock = threading.Lock()

    def charge(self, *, amount: Decimal, currency: str, card_number: str, idempotency_key: str):
        with self._lock:
            self.charges.append(
                {"amount": amount, "currency": currency, "idempotency_key": idempotency_key}
            )
        return self.inner.charge(
            amount=amount,
            currency=currency,
            card_number=card_number,
            idempotency_key=idempotency_key,
        )

    def refund(self, *, reference: str, amount: Decimal, idempotency_key: str):
        with self._lock:
            self.refunds.append(
                {"reference": reference, "amount": amount, "idempotency_key": idempotency_key}
            )
        return self.inner.refund(
            reference=reference, amount=amount, idempotency_key=idempotency_key
        )

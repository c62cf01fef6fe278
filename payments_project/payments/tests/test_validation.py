"""Bad input is a 4xx JSON error with "detail" and "code", never a 500, and charges nothing."""

import pytest

from payments.models import IdempotencyRecord, Payment
from payments.serializers import luhn_valid
from payments.tests.factories import CUSTOMER

pytestmark = pytest.mark.django_db


def assert_error(response, status=400, field=None):
    assert response.status_code == status, response.content
    body = response.json()
    assert {"detail", "code", "request_id"} <= set(body)
    if field:
        assert field in body["errors"], body


@pytest.fixture(autouse=True)
def _order_12(orders):
    orders.add(12, customer_id=CUSTOMER)


@pytest.mark.parametrize(
    "card",
    [
        "4242abcd42424242",  # letters
        "4242 42",  # too short
        "42424242424",  # 11 digits
        "4" * 20,  # too long
        "4242424242424241",  # Luhn-invalid
        "",
        "   ",
        None,
        4242424242424242,  # a number, not a string
        ["4242424242424242"],
        "４２４２４２４２４２４２４２４２",  # full-width digits
        "4242\x00424242424242",
    ],
)
def test_malformed_card_numbers_are_refused(pay, provider, card):
    assert_error(pay(12, card=card), field="card_number")
    assert provider.charges == [] and not Payment.objects.exists()
    assert not IdempotencyRecord.objects.exists()


@pytest.mark.parametrize(
    "order_id", [-1, 0, "12", "abc", 1.5, 12.0, True, None, [12], {"id": 12}, 2**63]
)
def test_bad_order_ids_are_refused(pay, provider, order_id):
    assert_error(pay(order_id), field="order_id")
    assert provider.charges == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"order_id": 12},
        {"card_number": "4242424242424242"},
        {"order_id": 12, "card_number": "4242424242424242", "amount": "1.00"},
    ],
)
def test_missing_and_unknown_fields_are_refused(customer, provider, body):
    response = customer.post("/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert_error(response)
    assert provider.charges == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"null", b"12"])
def test_malformed_json_and_non_object_bodies_are_refused(customer, raw):
    response = customer.generic(
        "POST", "/payments", raw, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert_error(response)


@pytest.mark.parametrize(
    "query",
    [
        {"order_id": "-1"},
        {"order_id": "0"},
        {"order_id": "abc"},
        {"order_id": "1.5"},
        {"order_id": str(2**63)},
        {"page": "0"},
        {"page": "x"},
        {"status": "PAID"},
    ],
)
def test_bad_list_queries_are_refused(customer, query):
    assert_error(customer.get("/payments", query))


def test_a_page_past_the_end_is_404_json(customer):
    assert_error(customer.get("/payments", {"page": 5}), status=404)


def test_negative_and_non_numeric_payment_ids_are_404_json(customer, admin):
    for path in ("/payments/-1", "/payments/abc", "/payments/-1/refund"):
        assert_error(customer.get(path), status=404)
    assert_error(admin.post("/payments/-1/refund"), status=404)


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4242424242424242", True),
        ("4000000000000002", True),
        ("4000000000009995", True),
        ("4000000000000119", True),
        ("5555555555554444", True),
        ("378282246310005", True),
        ("4242424242424241", False),
        ("1234567812345678", False),
    ],
)
def test_luhn(number, valid):
    assert luhn_valid(number) is valid

"""The mock provider: deterministic test cards, idempotency keys, latency and timeouts.

Its records are in its own tables of the payments database, never in the system's Redis.
"""

import threading
import time
from decimal import Decimal

import pytest
from django.db import OperationalError

from food_common.testing import run_together
from payments.models import MockProviderCharge, MockProviderRefund
from payments.provider import MockProvider, ProviderError, ProviderTimeout, get_provider

pytestmark = pytest.mark.django_db

AMOUNT = Decimal("33.00")


def charge(provider, card, key="key-1"):
    return provider.charge(amount=AMOUNT, currency="EUR", card_number=card, idempotency_key=key)


@pytest.mark.parametrize(
    ("card", "succeeded", "reason"),
    [
        ("4242424242424242", True, ""),
        ("5555555555554444", True, ""),
        ("4000000000000002", False, "card_declined"),
        ("4000000000009995", False, "insufficient_funds"),
    ],
)
def test_test_cards_give_their_result(card, succeeded, reason):
    result = charge(MockProvider(), card)

    assert (result.succeeded, result.failure_reason) == (succeeded, reason)
    assert result.reference.startswith("mock_ch_") and len(result.reference) == 8 + 32


def test_the_same_idempotency_key_returns_the_first_charge():
    provider = MockProvider()
    first = charge(provider, "4242424242424242", key="charge-1")

    assert charge(provider, "4242424242424242", key="charge-1") == first
    assert charge(provider, "4242424242424242", key="charge-2").reference != first.reference


def test_the_timeout_card_raises_after_the_timeout(settings):
    settings.PAYMENT_PROVIDER_TIMEOUT = 0.1
    started = time.monotonic()

    with pytest.raises(ProviderTimeout):
        charge(MockProvider(), "4000000000000119")

    assert 0.1 <= time.monotonic() - started < 1


def test_latency_is_added_and_a_latency_past_the_timeout_times_out(settings):
    settings.MOCK_PROVIDER_LATENCY_MS = 50
    started = time.monotonic()
    assert charge(MockProvider(), "4242424242424242").succeeded
    assert time.monotonic() - started >= 0.05

    with pytest.raises(ProviderTimeout):
        charge(MockProvider(latency_ms=300, timeout=0.05), "4242424242424242")


def test_a_refund_needs_a_known_charge_and_is_idempotent():
    provider = MockProvider()
    charged = charge(provider, "4242424242424242")

    refund = provider.refund(reference=charged.reference, amount=AMOUNT, idempotency_key="r-1")
    again = provider.refund(reference=charged.reference, amount=AMOUNT, idempotency_key="r-1")

    assert refund.succeeded and refund.reference.startswith("mock_re_")
    assert again == refund
    with pytest.raises(ProviderError):
        provider.refund(reference="mock_ch_unknown", amount=AMOUNT, idempotency_key="r-2")
    with pytest.raises(ProviderError):
        provider.refund(reference=charged.reference, amount=AMOUNT + 1, idempotency_key="r-3")


def test_a_declined_charge_cannot_be_refunded():
    provider = MockProvider()
    declined = charge(provider, "4000000000000002")

    with pytest.raises(ProviderError):
        provider.refund(reference=declined.reference, amount=AMOUNT, idempotency_key="r-1")


def test_charges_and_refunds_are_kept_in_the_providers_own_tables():
    provider = MockProvider()
    charged = charge(provider, "4242424242424242", key="charge-1")
    declined = charge(provider, "4000000000009995", key="charge-2")
    refund = provider.refund(reference=charged.reference, amount=AMOUNT, idempotency_key="r-1")

    kept = {c.idempotency_key: c for c in MockProviderCharge.objects.all()}
    assert set(kept) == {"charge-1", "charge-2"}
    assert (kept["charge-1"].reference, kept["charge-1"].amount) == (charged.reference, AMOUNT)
    assert kept["charge-1"].succeeded and kept["charge-1"].currency == "EUR"
    assert (kept["charge-2"].reference, kept["charge-2"].succeeded) == (declined.reference, False)
    assert kept["charge-2"].failure_reason == "insufficient_funds"
    [refunded] = MockProviderRefund.objects.all()
    assert (refunded.reference, refunded.charge, refunded.amount) == (
        refund.reference,
        kept["charge-1"],
        AMOUNT,
    )


def test_the_system_redis_down_does_not_stop_the_provider(settings):
    # Given the system's Redis (cache and broker) unreachable
    unreachable = "redis://127.0.0.1:1/0"
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": unreachable,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    settings.CELERY_BROKER_URL = unreachable
    provider = MockProvider()

    # Then charges and refunds still work
    charged = charge(provider, "4242424242424242")
    assert charged.succeeded
    assert charge(provider, "4242424242424242") == charged
    refund = provider.refund(reference=charged.reference, amount=AMOUNT, idempotency_key="r-1")
    assert refund.succeeded


def test_its_records_unavailable_is_a_provider_error(monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(MockProviderCharge.objects, "get_or_create", down)

    with pytest.raises(ProviderError, match="records are unavailable"):
        charge(MockProvider(), "4242424242424242")


def test_refunds_of_one_charge_never_give_back_more_than_it_took():
    provider = MockProvider()
    charged = charge(provider, "4242424242424242")

    first = provider.refund(
        reference=charged.reference, amount=Decimal("20.00"), idempotency_key="a"
    )

    assert first.succeeded
    with pytest.raises(ProviderError, match="exceeds"):
        provider.refund(reference=charged.reference, amount=Decimal("13.01"), idempotency_key="b")
    assert provider.refund(
        reference=charged.reference, amount=Decimal("13.00"), idempotency_key="c"
    ).succeeded
    assert MockProviderRefund.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_charges_with_one_key_record_one_charge():
    start = threading.Barrier(6)

    def attempt():
        start.wait(timeout=10)
        return charge(MockProvider(), "4242424242424242", key="charge-same")

    results = run_together([attempt] * 6)

    assert len(set(results)) == 1
    assert MockProviderCharge.objects.count() == 1


def test_the_setting_chooses_the_provider(settings):
    settings.PAYMENT_PROVIDER = "payments.tests.fakes.CountingProvider"

    assert type(get_provider()).__name__ == "CountingProvider"

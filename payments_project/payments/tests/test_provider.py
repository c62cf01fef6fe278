"""The mock provider: deterministic test cards, idempotency keys, latency and timeouts."""

import time
from decimal import Decimal

import pytest

from payments.provider import MockProvider, ProviderError, ProviderTimeout, get_provider

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


def test_redis_down_is_a_provider_error(settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }

    with pytest.raises(ProviderError):
        charge(MockProvider(), "4242424242424242")


def test_the_setting_chooses_the_provider(settings):
    settings.PAYMENT_PROVIDER = "payments.tests.fakes.CountingProvider"

    assert type(get_provider()).__name__ == "CountingProvider"

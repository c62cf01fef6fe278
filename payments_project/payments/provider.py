"""The payment provider: a small interface, and the mock this project runs with.

A real provider (Stripe, Adyen, ...) would replace only this module's `MockProvider`, selected by
the setting PAYMENT_PROVIDER (a dotted path). The rest of the service sees `PaymentProvider`:
`charge` and `refund`, each with an idempotency key, so that asking twice never moves money twice.

MockProvider's test cards (any other valid card number succeeds):

| card number        | result                                                             |
|--------------------|--------------------------------------------------------------------|
| 4242424242424242   | succeeds                                                           |
| 4000000000000002   | declined, failure_reason "card_declined"                           |
| 4000000000009995   | declined, failure_reason "insufficient_funds"                      |
| 4000000000000119   | never answers: raises ProviderTimeout after PAYMENT_PROVIDER_TIMEOUT s |

Every call first waits MOCK_PROVIDER_LATENCY_MS (default 0); a latency at or above the timeout is
a timeout too. Charges and refunds are remembered in Redis (the Django cache) like a real provider
remembers them: the same idempotency key within 24 hours returns the first result, and a refund
needs a charge it knows.
"""

import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

from django.conf import settings
from django.core.cache import cache
from django.utils.module_loading import import_string
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

CARD_SUCCEEDS = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_INSUFFICIENT_FUNDS = "4000000000009995"
CARD_TIMES_OUT = "4000000000000119"

DECLINES = {CARD_DECLINED: "card_declined", CARD_INSUFFICIENT_FUNDS: "insufficient_funds"}

IDEMPOTENCY_TTL = 24 * 60 * 60
CHARGE_TTL = 180 * 24 * 60 * 60  # how long a charge can be refunded


class ProviderError(Exception):
    """The provider could not be asked, or refused to do what was asked."""


class ProviderTimeout(ProviderError):
    """The provider did not answer within PAYMENT_PROVIDER_TIMEOUT seconds."""


@dataclass(frozen=True)
class ChargeResult:
    reference: str
    succeeded: bool
    failure_reason: str = ""


@dataclass(frozen=True)
class RefundResult:
    reference: str
    succeeded: bool
    failure_reason: str = ""


class PaymentProvider(Protocol):
    def charge(
        self, *, amount: Decimal, currency: str, card_number: str, idempotency_key: str
    ) -> ChargeResult:
        """Charge the card; raise ProviderTimeout or ProviderError when there is no answer."""
        ...

    def refund(self, *, reference: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        """Give back `amount` of the charge `reference`; raise ProviderError when it cannot."""
        ...


class MockProvider:
    """A deterministic stand-in for a card provider (see the module docstring for its cards)."""

    KEY_PREFIX = "mock-provider"

    def __init__(self, *, latency_ms: int | None = None, timeout: float | None = None):
        self.latency = (
            settings.MOCK_PROVIDER_LATENCY_MS if latency_ms is None else latency_ms
        ) / 1000
        self.timeout = settings.PAYMENT_PROVIDER_TIMEOUT if timeout is None else timeout

    def charge(
        self, *, amount: Decimal, currency: str, card_number: str, idempotency_key: str
    ) -> ChargeResult:
        self._wait(never_answers=card_number == CARD_TIMES_OUT)
        with self._records():
            remembered = cache.get(self._key("charge-idem", idempotency_key))
            if remembered is not None:
                return ChargeResult(**remembered)
            reason = DECLINES.get(card_number, "")
            result = ChargeResult(
                reference=f"mock_ch_{uuid.uuid4().hex}", succeeded=not reason, failure_reason=reason
            )
            if result.succeeded:
                cache.set(
                    self._key("charge", result.reference),
                    {"amount": str(amount), "currency": currency},
                    CHARGE_TTL,
                )
            cache.set(self._key("charge-idem", idempotency_key), asdict(result), IDEMPOTENCY_TTL)
        logger.info(
            "mock provider charge %s: %s %s, card ending %s, %s",
            result.reference,
            amount,
            currency,
            card_number[-4:],
            "succeeded" if result.succeeded else f"declined ({reason})",
        )
        return result

    def refund(self, *, reference: str, amount: Decimal, idempotency_key: str) -> RefundResult:
        self._wait()
        with self._records():
            remembered = cache.get(self._key("refund-idem", idempotency_key))
            if remembered is not None:
                return RefundResult(**remembered)
            charge = cache.get(self._key("charge", reference))
            if charge is None:
                raise ProviderError(f"no charge {reference!r} to refund")
            if Decimal(amount) > Decimal(charge["amount"]):
                raise ProviderError(
                    f"refund of {amount} exceeds charge {reference} ({charge['amount']})"
                )
            result = RefundResult(reference=f"mock_re_{uuid.uuid4().hex}", succeeded=True)
            cache.set(self._key("refund-idem", idempotency_key), asdict(result), IDEMPOTENCY_TTL)
        logger.info("mock provider refund %s of %s: %s", result.reference, reference, amount)
        return result

    def _wait(self, *, never_answers: bool = False) -> None:
        if never_answers or self.latency >= self.timeout:
            time.sleep(self.timeout)
            raise ProviderTimeout(f"the payment provider did not answer in {self.timeout:g} s")
        if self.latency:
            time.sleep(self.latency)

    @contextmanager
    def _records(self):
        """Turn an outage of the mock's Redis into what a real provider's outage would be."""
        try:
            yield
        except (RedisError, ConnectionInterrupted, OSError) as exc:
            raise ProviderError(f"the mock provider's records are unavailable: {exc}") from exc

    def _key(self, kind: str, value: str) -> str:
        return f"{self.KEY_PREFIX}:{kind}:{value}"


@lru_cache(maxsize=4)
def _provider_class(path: str) -> type:
    return import_string(path)


def get_provider() -> PaymentProvider:
    """Return the provider named by the PAYMENT_PROVIDER setting (a new one per call: stateless)."""
    return _provider_class(settings.PAYMENT_PROVIDER)()

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
a timeout too. Charges and refunds are remembered like a real provider remembers them: the same
idempotency key returns the first result, and a refund needs a succeeded charge it knows, for at
most its amount.

The mock keeps those records in tables of its own (`MockProviderCharge`, `MockProviderRefund`) in
the payments database, never in the system's Redis: Redis carries our events and caches, and its
outage must delay events, not look like the provider failing (every payment a 502). A real
provider keeps its records on its own servers; the tables stand in for them. One difference: a
call made inside the caller's transaction (a refund is) writes its record in that transaction, so
a refund that rolls back is forgotten by the mock too; its retry then refunds it again, which for a
mock moves no money.
"""

import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Protocol

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Sum
from django.utils.module_loading import import_string

from payments.models import MockProviderCharge, MockProviderRefund

logger = logging.getLogger(__name__)

CARD_SUCCEEDS = "4242424242424242"
CARD_DECLINED = "4000000000000002"
CARD_INSUFFICIENT_FUNDS = "4000000000009995"
CARD_TIMES_OUT = "4000000000000119"

DECLINES = {CARD_DECLINED: "card_declined", CARD_INSUFFICIENT_FUNDS: "insufficient_funds"}


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

    def __init__(self, *, latency_ms: int | None = None, timeout: float | None = None):
        self.latency = (
            settings.MOCK_PROVIDER_LATENCY_MS if latency_ms is None else latency_ms
        ) / 1000
        self.timeout = settings.PAYMENT_PROVIDER_TIMEOUT if timeout is None else timeout

    def charge(
        self, *, amount: Decimal, currency: str, card_number: str, idempotency_key: str
    ) -> ChargeResult:
        self._wait(never_answers=card_number == CARD_TIMES_OUT)
        reason = DECLINES.get(card_number, "")
        with self._records():
            # The first call with a key records the charge; every later one (or a concurrent one,
            # which waits on the unique index) gets that same charge back.
            charge, created = MockProviderCharge.objects.get_or_create(
                idempotency_key=idempotency_key,
                defaults={
                    "reference": f"mock_ch_{uuid.uuid4().hex}",
                    "amount": amount,
                    "currency": currency,
                    "succeeded": not reason,
                    "failure_reason": reason,
                },
            )
        result = ChargeResult(
            reference=charge.reference,
            succeeded=charge.succeeded,
            failure_reason=charge.failure_reason,
        )
        if created:
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
        with self._records(), transaction.atomic():
            remembered = MockProviderRefund.objects.filter(idempotency_key=idempotency_key).first()
            if remembered is not None:
                return RefundResult(reference=remembered.reference, succeeded=True)
            # Locked, so concurrent refunds of one charge never give back more than it took.
            charge = (
                MockProviderCharge.objects.select_for_update()
                .filter(reference=reference, succeeded=True)
                .first()
            )
            if charge is None:
                raise ProviderError(f"no charge {reference!r} to refund")
            refunded = charge.refunds.aggregate(total=Sum("amount"))["total"] or Decimal(0)
            if Decimal(amount) + refunded > charge.amount:
                raise ProviderError(
                    f"refund of {amount} exceeds what is left of charge {reference} "
                    f"({charge.amount - refunded} of {charge.amount})"
                )
            refund, created = MockProviderRefund.objects.get_or_create(
                idempotency_key=idempotency_key,
                defaults={
                    "reference": f"mock_re_{uuid.uuid4().hex}",
                    "charge": charge,
                    "amount": amount,
                },
            )
        if created:
            logger.info("mock provider refund %s of %s: %s", refund.reference, reference, amount)
        return RefundResult(reference=refund.reference, succeeded=True)

    def _wait(self, *, never_answers: bool = False) -> None:
        if never_answers or self.latency >= self.timeout:
            time.sleep(self.timeout)
            raise ProviderTimeout(f"the payment provider did not answer in {self.timeout:g} s")
        if self.latency:
            time.sleep(self.latency)

    @contextmanager
    def _records(self):
        """Turn an outage of the mock's records into what a real provider's outage would be."""
        try:
            yield
        except DatabaseError as exc:
            raise ProviderError(f"the mock provider's records are unavailable: {exc}") from exc


@lru_cache(maxsize=4)
def _provider_class(path: str) -> type:
    return import_string(path)


def get_provider() -> PaymentProvider:
    """Return the provider named by the PAYMENT_PROVIDER setting (a new one per call: stateless)."""
    return _provider_class(settings.PAYMENT_PROVIDER)()

"""Idempotent requests: the `Idempotency-Key` header, following Stripe's documented rules.

- The first answer to a customer's key is saved (status code and JSON body) and replayed, the
  same, to every retry with the same parameters for 24 hours; a replay carries
  `Idempotent-Replayed: true`.
- The same key with other parameters is refused (422 `idempotency_key_reused`); a key whose first
  request is still running is refused (409 `idempotency_key_in_use`); neither is saved.
- Nothing is saved for a request refused by validation (400), nor for one whose answer says that
  nothing happened and that the same request may work later (`services.Retryable`: a concurrent
  payment of the order, the orders service unreachable) or that crashed (500): the key is
  released and a retry with it runs again.
- After 24 hours a key is forgotten: its record is replaced on its next use (and
  `manage.py purge_idempotency_records` deletes the old ones). A record left "processing" by a
  process that died is taken over after five minutes.

The request's parameters are compared through a fingerprint: a keyed sha256 (HMAC with
SECRET_KEY) of the canonical JSON of the validated body. Keyed because the body holds a card
number, and a plain hash of a card number can be reversed by trying every number (PCI DSS asks for
keyed hashes); changing SECRET_KEY makes retries of requests in flight answer 422.
"""

import json
from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from rest_framework import status

from food_common.errors import Conflict, DomainError
from payments.models import IdempotencyRecord, IdempotencyStatus

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEY_LIFETIME = timedelta(hours=24)
PROCESSING_ABANDONED_AFTER = timedelta(minutes=5)


class IdempotencyErrorCode:
    KEY_REQUIRED = "idempotency_key_required"
    KEY_INVALID = "idempotency_key_invalid"
    KEY_REUSED = "idempotency_key_reused"
    KEY_IN_USE = "idempotency_key_in_use"


class IdempotencyKeyInvalid(DomainError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = IdempotencyErrorCode.KEY_INVALID
    default_detail = f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable characters."


class IdempotencyKeyReused(DomainError):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_code = IdempotencyErrorCode.KEY_REUSED
    default_detail = (
        f"This {HEADER} was already used with other parameters; use a new key for a new request."
    )


class IdempotencyKeyInUse(Conflict):
    default_code = IdempotencyErrorCode.KEY_IN_USE
    default_detail = (
        f"A request with this {HEADER} is still being processed; retry once it has finished."
    )


def idempotency_key_from_header(value: str | None) -> str:
    """Return the key of an `Idempotency-Key` header, or raise IdempotencyKeyInvalid (400)."""
    key = (value or "").strip()
    if not key:
        raise IdempotencyKeyInvalid(
            f"The {HEADER} header is required: send a unique value (a UUID) per payment.",
            IdempotencyErrorCode.KEY_REQUIRED,
        )
    if len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise IdempotencyKeyInvalid()
    return key


def request_fingerprint(data: dict) -> str:
    """Return the keyed sha256 of the canonical JSON of a request's validated body."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return salted_hmac("payments.idempotency", canonical, algorithm="sha256").hexdigest()


@dataclass(frozen=True)
class Claim:
    """A claimed key: a new record to run the request under, or the saved answer to replay."""

    record: IdempotencyRecord

    @property
    def replay(self) -> bool:
        return self.record.status == IdempotencyStatus.DONE


@transaction.atomic
def idempotency_record_claim(*, customer_id: int, key: str, fingerprint: str) -> Claim:
    """Claim `key` for this request, or return the saved answer of its first use.

    Raise IdempotencyKeyReused (422) for other parameters, IdempotencyKeyInUse (409) while the
    first request runs. Commits at once, so a concurrent request sees the claim.
    """
    now = timezone.now()
    IdempotencyRecord.objects.filter(customer_id=customer_id, key=key).filter(
        Q(created_at__lt=now - KEY_LIFETIME)
        | Q(status=IdempotencyStatus.PROCESSING, created_at__lt=now - PROCESSING_ABANDONED_AFTER)
    ).delete()
    try:
        # A concurrent INSERT of the same key waits here until the first one commits.
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                customer_id=customer_id,
                key=key,
                request_fingerprint=fingerprint,
                status=IdempotencyStatus.PROCESSING,
            )
        return Claim(record)
    except IntegrityError:
        existing = IdempotencyRecord.objects.filter(customer_id=customer_id, key=key).first()
    if existing is None:  # released between our INSERT and this read
        raise IdempotencyKeyInUse()
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    if existing.status == IdempotencyStatus.PROCESSING:
        raise IdempotencyKeyInUse()
    return Claim(existing)


def idempotency_record_complete(*, record: IdempotencyRecord, status: int, body) -> None:
    """Save the answer to replay for the key of `record`."""
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=IdempotencyStatus.DONE,
        response_status=status,
        response_body=body,
        updated_at=timezone.now(),
    )


def idempotency_record_release(*, record: IdempotencyRecord) -> None:
    """Forget the claim of `record`, so the same key can be used again at once."""
    IdempotencyRecord.objects.filter(pk=record.pk, status=IdempotencyStatus.PROCESSING).delete()


def idempotency_records_purge(*, older_than: timedelta = KEY_LIFETIME) -> int:
    """Delete the records of keys older than `older_than`; return how many."""
    deleted, _ = IdempotencyRecord.objects.filter(
        created_at__lt=timezone.now() - older_than
    ).delete()
    return deleted

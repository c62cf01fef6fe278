"""Saved answers of POST /payments, one per customer and Idempotency-Key, following Stripe's rules.

The header, the request fingerprint and the 400/409/422 errors are the shared rules
(`food_common.idempotency`); what payments adds is where the first answer is kept:

- The first answer to a customer's key is saved (status code and JSON body) and replayed, the
  same, to every retry with the same parameters for 24 hours; a replay carries
  `Idempotent-Replayed: true`.
- The same key with other parameters is refused (422 `idempotency_key_reused`); a key whose first
  request is still running is refused (409 `idempotency_key_in_use`); neither is saved.
- Nothing is saved for a request refused by validation (400), nor for one whose answer says that
  nothing happened and that the same request may work later (`errors.Retryable`: a concurrent
  payment of the order, the orders service unreachable) or that crashed (500): the key is
  released and a retry with it runs again.
- After 24 hours a key is forgotten: its record is replaced on its next use (and
  `manage.py purge_idempotency_records` deletes the old ones). A record left "processing" by a
  process that died is taken over after five minutes.

The storage stays here rather than in the shared package because only payments saves answers:
orders keeps a key's outcome on the order it created.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from food_common.idempotency import IdempotencyKeyInUse, ensure_same_request
from payments.models import IdempotencyRecord, IdempotencyStatus

KEY_LIFETIME = timedelta(hours=24)
PROCESSING_ABANDONED_AFTER = timedelta(minutes=5)
# The fingerprints' HMAC salt: the one the records saved before the shared module were made with,
# so their retries are still recognised.
FINGERPRINT_SALT = "payments.idempotency"


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
    ensure_same_request(first=existing.request_fingerprint, retry=fingerprint)
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

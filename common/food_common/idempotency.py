"""Idempotent requests: the `Idempotency-Key` header, the request fingerprint and their errors.

The part of Stripe's documented rules every service shares; where the first answer (or what the
first request created) is kept, and for how long, is each service's own.

- A key is 1 to 255 printable characters, surrounding whitespace stripped; anything else is
  400 `idempotency_key_invalid`. Where an endpoint requires a key, a missing or blank one is
  400 `idempotency_key_required`. Both name the header under `errors`, like a field error.
- A retry must repeat the first request's parameters, compared through a fingerprint: a keyed
  sha256 (HMAC with SECRET_KEY) of the canonical JSON of the validated body. Keyed because a body
  may hold a card number or an address, and a plain hash of a card number can be reversed by
  trying every number (PCI DSS asks for keyed hashes); changing SECRET_KEY makes retries of
  requests in flight answer 422.
- The same key with other parameters is refused: 422 `idempotency_key_reused`. A key whose first
  request is still running, where a service can tell, is 409 `idempotency_key_in_use`.
- A replayed answer carries `Idempotent-Replayed: true`.
"""

import hmac
import json
from collections.abc import Mapping

from django.utils.crypto import salted_hmac
from rest_framework import status

from food_common.errors import Conflict, DomainError

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
FINGERPRINT_SALT = "food_common.idempotency"


class IdempotencyErrorCode:
    KEY_REQUIRED = "idempotency_key_required"
    KEY_INVALID = "idempotency_key_invalid"
    KEY_REUSED = "idempotency_key_reused"
    KEY_IN_USE = "idempotency_key_in_use"


class IdempotencyKeyInvalid(DomainError):
    default_code = IdempotencyErrorCode.KEY_INVALID
    default_detail = f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable characters."

    def __init__(self, detail: str | None = None, code: str | None = None):
        detail = detail or self.default_detail
        super().__init__(detail, code, errors={HEADER: [detail]})


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


def idempotency_key_from(headers: Mapping[str, str], *, required: bool = True) -> str | None:
    """Return the request's `Idempotency-Key`, or None when it has none and none is required.

    Raise IdempotencyKeyInvalid (400): `idempotency_key_required` for a required key that is
    missing or blank, `idempotency_key_invalid` for a blank optional one, a longer one or one with
    a character that is not printable.
    """
    raw = headers.get(HEADER)
    if raw is None and not required:
        return None
    key = (raw or "").strip()
    if not key and required:
        raise IdempotencyKeyInvalid(
            f"The {HEADER} header is required: send a unique value (a UUID) per request, and the "
            "same value when retrying it.",
            IdempotencyErrorCode.KEY_REQUIRED,
        )
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise IdempotencyKeyInvalid()
    return key


def request_fingerprint(data: Mapping, *, salt: str = FINGERPRINT_SALT) -> str:
    """Return the keyed sha256 (64 hex digits) of the canonical JSON of a validated body.

    `salt` (Django's `key_salt`) separates fingerprints made for different purposes.
    """
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return salted_hmac(salt, canonical, algorithm="sha256").hexdigest()


def ensure_same_request(*, first: str, retry: str, **extra) -> None:
    """Raise IdempotencyKeyReused (422, with `extra` in its body) unless the fingerprints match."""
    if not hmac.compare_digest(first or "", retry or ""):
        raise IdempotencyKeyReused(**extra)

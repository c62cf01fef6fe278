"""Proof of origin for events: an HMAC-SHA256 of the envelope with a per-deployment key.

Anyone who can put a message on the broker (Flower's task API, a shell on a Redis client) can
enqueue `food.events.handle` with any envelope, so a consumer applies only envelopes signed with
`EVENT_SIGNING_KEY`, which only the processes of the publishing and consuming services hold.

The signature is the hex HMAC-SHA256 of the canonical JSON of every field of the envelope but
`signature` itself (sorted keys, no blanks), added as the envelope's `signature` field. The
outbox row holds what is signed, so its envelope, relayed now or later, is signed the same way,
and a dead letter keeps the signed envelope it received, so a replay from the admin is signed.

Rotating the key: set the new key as `EVENT_SIGNING_KEY` and the old one as
`EVENT_SIGNING_KEY_PREVIOUS` in every process, wait until nothing signed with the old key is
left in the queues (and no dead letter is to be replayed), then remove `EVENT_SIGNING_KEY_PREVIOUS`.
Events are always signed with `EVENT_SIGNING_KEY`; either key verifies.

The same key signs the few requests one service makes to another's internal paths, which the
gateway never forwards (`signed_request_headers`, `request_rejection`): the HMAC of the method,
the path with its query and the time, so a signature is good for that one request for a minute.
What is signed starts with an HTTP method, an envelope's canonical JSON with "{": neither
signature can pass for the other.
"""

import hashlib
import hmac
import json
import time

from django.conf import settings

SIGNATURE_FIELD = "signature"

# Why a consumer rejects an envelope (its dead letter's `error`).
UNSIGNED = "no signature"
BAD_SIGNATURE = "bad signature (not made with this deployment's EVENT_SIGNING_KEY)"
MALFORMED = "not an event envelope"


def canonical(envelope: dict) -> bytes:
    """Return the bytes that are signed: the envelope without its signature, as canonical JSON."""
    unsigned = {key: value for key, value in envelope.items() if key != SIGNATURE_FIELD}
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":")).encode()


def signature_of(envelope: dict, key: str) -> str:
    """Return the hex HMAC-SHA256 of `envelope` (its signature left out) with `key`."""
    return hmac.new(key.encode(), canonical(envelope), hashlib.sha256).hexdigest()


def signing_keys() -> list[str]:
    """Return the keys that verify an event: the current one, then the previous one if set."""
    return [key for key in (settings.EVENT_SIGNING_KEY, settings.EVENT_SIGNING_KEY_PREVIOUS) if key]


def sign(envelope: dict) -> dict:
    """Return a copy of `envelope` with its `signature`, made with the current key."""
    return {**envelope, SIGNATURE_FIELD: signature_of(envelope, settings.EVENT_SIGNING_KEY)}


def rejection(envelope: object) -> str | None:
    """Return why `envelope` must not be applied (one of the reasons above), or None if it is signed."""
    if not isinstance(envelope, dict) or not all(
        isinstance(envelope.get(field), str) for field in ("id", "type")
    ):
        return MALFORMED
    signature = envelope.get(SIGNATURE_FIELD)
    if not signature:
        return UNSIGNED
    if not isinstance(signature, str):
        return BAD_SIGNATURE
    try:
        expected = [signature_of(envelope, key) for key in signing_keys()]
    except (TypeError, ValueError, RecursionError):
        return MALFORMED
    given = signature.encode()  # bytes: compare_digest refuses a str that is not ASCII
    if any(hmac.compare_digest(e.encode(), given) for e in expected):
        return None
    return BAD_SIGNATURE


# -- requests between services ------------------------------------------------------------------

REQUEST_SIGNATURE_HEADER = "X-Service-Signature"  # "<unix time>:<hex HMAC-SHA256>"
REQUEST_MAX_AGE_SECONDS = 60  # also how far the caller's clock may be ahead

# Why a service refuses a request to an internal path.
REQUEST_UNSIGNED = "no X-Service-Signature"
REQUEST_EXPIRED = "signature too old, or from a clock too far ahead"
REQUEST_BAD_SIGNATURE = "bad signature (not made with this deployment's EVENT_SIGNING_KEY)"


def request_signature(method: str, path: str, timestamp: int, key: str) -> str:
    """Return the hex HMAC-SHA256 with `key` of a request: its method, path with query and time."""
    message = f"{method.upper()}\n{path}\n{timestamp}".encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def signed_request_headers(method: str, path: str) -> dict:
    """Return the header that signs a request for `path` (with its query) with the current key."""
    now = int(time.time())
    signature = request_signature(method, path, now, settings.EVENT_SIGNING_KEY)
    return {REQUEST_SIGNATURE_HEADER: f"{now}:{signature}"}


def request_rejection(method: str, path: str, header: str | None) -> str | None:
    """Return why a request must be refused (one of the reasons above), or None if it is signed."""
    if not header:
        return REQUEST_UNSIGNED
    timestamp, _, signature = header.partition(":")
    try:
        at = int(timestamp)
    except ValueError:
        return REQUEST_BAD_SIGNATURE
    if abs(time.time() - at) > REQUEST_MAX_AGE_SECONDS:
        return REQUEST_EXPIRED
    given = signature.encode()  # bytes: compare_digest refuses a str that is not ASCII
    expected = [request_signature(method, path, at, key) for key in signing_keys()]
    if any(hmac.compare_digest(e.encode(), given) for e in expected):
        return None
    return REQUEST_BAD_SIGNATURE

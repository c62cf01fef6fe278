"""Verify RS256 access tokens locally, with keys found by `kid` (from the auth service's JWKS).

No call to auth per request: the JWKS is fetched once and cached (PyJWKClient), and a token that
verified once is remembered by its full string, with `exp` still checked on every hit. Only RS256 is
accepted, so `alg: none` and HS256 tokens (e.g. signed with the public key as secret) are refused.
"""

import itertools
import logging
import threading
import time
from collections.abc import Callable
from functools import lru_cache

import jwt
from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

ALGORITHM = "RS256"
REQUIRED_CLAIMS = ["exp", "sub", "jti"]


class TokenInvalid(Exception):
    """The token is malformed, expired, of the wrong kind, or not signed by one of our keys."""


class KeysUnavailable(Exception):
    """The signing keys could not be fetched (the JWKS URL does not answer)."""


def keys_from_jwks_url(url: str, timeout: float) -> Callable[[str], object]:
    """Return a function that maps a `kid` to its public key, fetched from the JWKS at `url`."""
    client = jwt.PyJWKClient(url, cache_keys=False, lifespan=300, timeout=timeout)

    def key_for_kid(kid: str):
        try:
            return client.get_signing_key(kid).key
        except jwt.PyJWKClientConnectionError as exc:
            logger.error("JWKS at %s is unreachable: %s", url, exc)
            raise KeysUnavailable(
                f"signing keys unavailable: JWKS at {url} does not answer"
            ) from exc
        except jwt.PyJWKClientError as exc:
            raise TokenInvalid("Token is signed with an unknown key.") from exc

    return key_for_kid


class AccessTokenVerifier:
    """Verify access tokens and return their claims; remembers tokens that verified."""

    def __init__(
        self,
        key_for_kid: Callable[[str], object],
        *,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = 0,
        cache_size: int = 10_000,
    ):
        self.key_for_kid = key_for_kid
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.cache_size = cache_size
        self._verified: dict[str, dict] = {}
        self._lock = threading.Lock()

    def verify(self, token: str) -> dict:
        """Return the claims of a valid access token, or raise TokenInvalid / KeysUnavailable."""
        claims = self.verified(token)
        if claims is not None:
            return claims
        claims = self._decode(token)
        with self._lock:
            if len(self._verified) >= self.cache_size:
                self._make_room()
            self._verified[token] = claims
        return claims

    def _make_room(self) -> None:
        """Forget the expired tokens; if that frees less than a quarter, the oldest quarter too.

        Never the whole cache at once: on the location hot path every remembered token is a
        rider reporting every few seconds, and forgetting them all would send each one's next
        update through a full RS256 verification at the same moment. Size JWT_VERIFIED_TOKENS to
        the users active within a token's lifetime (riders on shift, for delivery and the
        gateway): tokens used in turn, more of them than it holds, are always new to it.
        """
        # Snapshots (list() of a dict runs in C, under the GIL) and pop(): `verified()` forgets
        # expired tokens without the lock, from other threads.
        now = time.time()
        for token, claims in list(self._verified.items()):
            if claims["exp"] + self.leeway <= now:
                self._verified.pop(token, None)
        excess = len(self._verified) - (self.cache_size * 3) // 4
        for token in list(itertools.islice(self._verified, max(0, excess))):
            self._verified.pop(token, None)

    def verified(self, token: str) -> dict | None:
        """Return the claims of a token that verified before, None if it never did (no I/O).

        Raises TokenInvalid if it has expired since. An async caller verifies on its event loop
        what this answers and sends only the rest (which may fetch the JWKS) to a thread.
        """
        claims = self._verified.get(token)
        if claims is None:
            return None
        if claims["exp"] + self.leeway > time.time():
            return claims
        self._verified.pop(token, None)
        raise TokenInvalid("Token has expired.")

    def _decode(self, token: str) -> dict:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenInvalid("Token is malformed.") from None
        if header.get("alg") != ALGORITHM:
            raise TokenInvalid(f"Token algorithm must be {ALGORITHM}.")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise TokenInvalid("Token has no key id (kid).")
        key = self.key_for_kid(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS, "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise TokenInvalid("Token has expired.") from None
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"Token is invalid: {exc}.") from None
        if claims.get("token_type", "access") != "access":
            raise TokenInvalid("Token is not an access token.")
        return claims


@lru_cache(maxsize=1)
def get_verifier() -> AccessTokenVerifier:
    """Return the process-wide verifier configured from settings (JWT_KEY_RESOLVER, JWT_JWKS_URL...)."""
    resolver = getattr(settings, "JWT_KEY_RESOLVER", None)
    if resolver:
        key_for_kid = import_string(resolver)
    else:
        key_for_kid = keys_from_jwks_url(
            settings.JWT_JWKS_URL, timeout=getattr(settings, "JWT_JWKS_TIMEOUT", 3.0)
        )
    return AccessTokenVerifier(
        key_for_kid,
        issuer=getattr(settings, "JWT_ISSUER", None) or None,
        audience=getattr(settings, "JWT_AUDIENCE", None) or None,
        leeway=getattr(settings, "JWT_LEEWAY", 0),
        cache_size=getattr(settings, "JWT_VERIFIED_TOKENS", 10_000),
    )

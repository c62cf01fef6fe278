"""The RS256 key that signs tokens and the public keys auth publishes (JWKS), each named by a `kid`.

The private key comes from JWT_PRIVATE_KEY (PEM text) or JWT_PRIVATE_KEY_FILE. With DEBUG on and
neither set, a local key is generated once at JWT_LOCAL_PRIVATE_KEY_FILE (under the git-ignored
var/). JWT_EXTRA_PUBLIC_KEYS_FILE may hold older public keys (PEM blocks, one after another) that
stay published during a rotation, until the tokens they signed have expired. A key's `kid` is its
RFC 7638 thumbprint, so every process holding the same key names it the same way.
"""

import base64
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from jwt.utils import to_base64url_uint

from food_common.tokens import ALGORITHM, TokenInvalid

logger = logging.getLogger(__name__)

KEY_SIZE = 2048
INVALID_KEY = "accounts.E001"
MISSING_KEY = "accounts.E002"
_PUBLIC_PEM = re.compile(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


class SigningKeyError(ImproperlyConfigured):
    """The signing (or an extra public) key is missing or unusable; `check_id` names the check."""

    def __init__(self, message: str, check_id: str = INVALID_KEY):
        super().__init__(message)
        self.check_id = check_id


@dataclass(frozen=True, eq=False)  # hashed by identity: one instance per loaded key
class SigningKey:
    private_key: rsa.RSAPrivateKey
    kid: str


def signing_key() -> SigningKey:
    """Return the key that signs tokens, loaded once per configuration."""
    return _signing_key(
        settings.JWT_PRIVATE_KEY,
        settings.JWT_PRIVATE_KEY_FILE,
        settings.JWT_LOCAL_PRIVATE_KEY_FILE if settings.DEBUG else "",
    )


def published_keys() -> dict[str, rsa.RSAPublicKey]:
    """Return the public keys tokens may be signed with, by kid; the current one first."""
    return _published_keys(signing_key(), settings.JWT_EXTRA_PUBLIC_KEYS_FILE)


def public_key_for_kid(kid: str) -> rsa.RSAPublicKey:
    """Return the public key named `kid` (JWT_KEY_RESOLVER), or raise TokenInvalid."""
    key = published_keys().get(kid)
    if key is None:
        raise TokenInvalid("Token is signed with an unknown key.")
    return key


def jwks() -> dict:
    """Return the JSON Web Key Set of the published keys."""
    return {"keys": [public_jwk(key, kid=kid) for kid, key in published_keys().items()]}


def public_jwk(public_key: rsa.RSAPublicKey, *, kid: str) -> dict:
    """Return the JWK of an RSA public key used to verify our RS256 signatures."""
    return {"kty": "RSA", "use": "sig", "alg": ALGORITHM, "kid": kid, **_rsa_members(public_key)}


def jwk_thumbprint(public_key: rsa.RSAPublicKey) -> str:
    """Return the RFC 7638 thumbprint of an RSA public key: base64url(SHA-256(canonical JWK))."""
    canonical = json.dumps(
        {"kty": "RSA", **_rsa_members(public_key)}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """Return the RSA private key of PEM text, or raise SigningKeyError saying why in one line."""
    # Keys passed through .env files often arrive with literal "\n" instead of line breaks.
    pem = pem.replace("\\n", "\n").strip()
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = str(exc).split(". ")[0].strip().rstrip(".")
        raise SigningKeyError(f"JWT private key is not a valid RSA PEM key: {reason}") from None
    return _checked_rsa(key, "JWT private key is not a valid RSA PEM key")


def private_key_pem(key: rsa.RSAPrivateKey) -> bytes:
    """Return a private key as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@lru_cache(maxsize=4)
def _signing_key(pem: str, path: str, local_path: str) -> SigningKey:
    if not pem:
        if path:
            pem = _read(path, "JWT_PRIVATE_KEY_FILE")
        elif local_path:
            pem = _local_key_pem(Path(local_path))
        else:
            raise SigningKeyError(
                "JWT private key is not configured: set JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE "
                "(required when DEBUG is off)",
                MISSING_KEY,
            )
    private_key = load_private_key(pem)
    return SigningKey(private_key=private_key, kid=jwk_thumbprint(private_key.public_key()))


@lru_cache(maxsize=4)
def _published_keys(current: SigningKey, extra_path: str) -> dict[str, rsa.RSAPublicKey]:
    keys = {current.kid: current.private_key.public_key()}
    if extra_path:
        blocks = _PUBLIC_PEM.findall(_read(extra_path, "JWT_EXTRA_PUBLIC_KEYS_FILE"))
        if not blocks:
            raise SigningKeyError("JWT_EXTRA_PUBLIC_KEYS_FILE holds no PEM public key")
        for block in blocks:
            try:
                key = serialization.load_pem_public_key(block.encode())
            except (ValueError, UnsupportedAlgorithm) as exc:
                raise SigningKeyError(
                    f"JWT_EXTRA_PUBLIC_KEYS_FILE holds an invalid public key: {exc}"
                ) from None
            key = _checked_rsa(key, "JWT_EXTRA_PUBLIC_KEYS_FILE holds an unusable key")
            keys.setdefault(jwk_thumbprint(key), key)
    return keys


def _checked_rsa(key, problem: str):
    if not isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        raise SigningKeyError(f"{problem}: it is a {type(key).__name__}, RS256 needs RSA")
    if key.key_size < KEY_SIZE:
        raise SigningKeyError(f"{problem}: it has {key.key_size} bits, at least {KEY_SIZE} needed")
    return key


def _read(path: str, setting: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise SigningKeyError(
            f"{setting} {path} cannot be read: {exc.strerror or exc}", MISSING_KEY
        ) from None


def _local_key_pem(path: Path) -> str:
    """Return the local development key at `path`, generating it (mode 0600) the first time."""
    if not path.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(
                private_key_pem(rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE))
            )
        try:
            os.link(partial, path)  # atomic, and fails if another process made the key meanwhile
            logger.warning("generated a local JWT signing key at %s", path)
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return _read(str(path), "JWT_LOCAL_PRIVATE_KEY_FILE")


def _rsa_members(public_key: rsa.RSAPublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    return {"n": to_base64url_uint(numbers.n).decode(), "e": to_base64url_uint(numbers.e).decode()}

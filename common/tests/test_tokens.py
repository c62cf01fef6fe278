"""Local verification of RS256 access tokens: what is accepted, what is refused, and the caches."""

import base64
import hashlib
import hmac
import json
import time
from http.server import BaseHTTPRequestHandler
from types import SimpleNamespace

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from food_common.testing import (
    TEST_KID,
    make_access_token,
    test_private_key,
    test_public_key_for_kid,
)
from food_common.tokens import (
    AccessTokenVerifier,
    KeysUnavailable,
    TokenInvalid,
    keys_from_jwks_url,
)
from tests.conftest import closed_port


@pytest.fixture
def verifier():
    return AccessTokenVerifier(test_public_key_for_kid, issuer="food-auth", audience="food-api")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made_token(header: dict, payload: dict, sign=lambda signing_input: b"") -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def claims_of(**extra) -> dict:
    now = int(time.time())
    return {
        "token_type": "access",
        "sub": "7",
        "role": "customer",
        "iat": now,
        "exp": now + 300,
        "jti": "j1",
        "iss": "food-auth",
        "aud": "food-api",
        **extra,
    }


def public_pem() -> bytes:
    return (
        test_private_key()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def test_valid_token_gives_its_claims(verifier):
    token = make_access_token(7, role="admin", email="boss@example.com")
    claims = verifier.verify(token)
    assert claims["sub"] == "7"
    assert claims["role"] == "admin"
    assert claims["email"] == "boss@example.com"
    assert claims["token_type"] == "access"


def test_second_verify_is_a_cache_hit_that_still_checks_expiry(verifier, monkeypatch):
    decoded = []
    real_decode = jwt.decode

    def counting_decode(*args, **kwargs):
        decoded.append(1)
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting_decode)
    token = make_access_token(7, lifetime=60)
    first = verifier.verify(token)
    assert verifier.verify(token) == first
    assert len(decoded) == 1  # the second verify did not decode again

    clock = SimpleNamespace(time=lambda: first["exp"] + 1)
    monkeypatch.setattr("food_common.tokens.time", clock)
    with pytest.raises(TokenInvalid, match="expired"):
        verifier.verify(token)
    assert len(decoded) == 1  # refused from the cache, not by a new decode
    assert token not in verifier._verified  # and forgotten


def test_a_full_cache_forgets_expired_tokens_first_then_the_oldest_never_all(monkeypatch):
    verifier = AccessTokenVerifier(
        test_public_key_for_kid, issuer="food-auth", audience="food-api", cache_size=8
    )
    short = [make_access_token(n, lifetime=30) for n in range(3)]
    long = [make_access_token(n, lifetime=300) for n in range(10, 15)]
    for token in short + long:
        verifier.verify(token)
    assert len(verifier._verified) == 8

    # When the short ones have expired, the next new token makes room by forgetting only them
    later = time.time() + 60
    monkeypatch.setattr("food_common.tokens.time", SimpleNamespace(time=lambda: later))
    newest = make_access_token(20, lifetime=300, exp=int(later) + 300)
    verifier.verify(newest)
    assert list(verifier._verified) == [*long, newest]

    # Full of live tokens, it forgets the oldest quarter and more, not everything
    more = [make_access_token(n, lifetime=300, exp=int(later) + 300) for n in range(30, 33)]
    for token in more:
        verifier.verify(token)
    remembered = list(verifier._verified)
    assert 0 < len(remembered) <= 8 and remembered[-1] == more[-1]
    assert long[0] not in remembered and newest in remembered


def test_cache_hit_honours_the_leeway(monkeypatch):
    verifier = AccessTokenVerifier(
        test_public_key_for_kid, issuer="food-auth", audience="food-api", leeway=30
    )
    token = make_access_token(7, lifetime=60)
    claims = verifier.verify(token)
    monkeypatch.setattr("food_common.tokens.time", SimpleNamespace(time=lambda: claims["exp"] + 10))
    assert verifier.verify(token) == claims
    monkeypatch.setattr("food_common.tokens.time", SimpleNamespace(time=lambda: claims["exp"] + 31))
    with pytest.raises(TokenInvalid):
        verifier.verify(token)


def test_expired_token_is_refused(verifier):
    with pytest.raises(TokenInvalid, match="expired"):
        verifier.verify(make_access_token(7, lifetime=-10))


def test_alg_none_is_refused(verifier):
    token = hand_made_token({"alg": "none", "typ": "JWT", "kid": TEST_KID}, claims_of())
    with pytest.raises(TokenInvalid, match="RS256"):
        verifier.verify(token)


def test_hs256_signed_with_the_public_key_as_secret_is_refused(verifier):
    def sign(signing_input):
        return hmac.new(public_pem(), signing_input, hashlib.sha256).digest()

    token = hand_made_token({"alg": "HS256", "typ": "JWT", "kid": TEST_KID}, claims_of(), sign)
    with pytest.raises(TokenInvalid):
        verifier.verify(token)
    # The same HMAC signature under a header that claims RS256 does not verify either.
    lying = hand_made_token({"alg": "RS256", "typ": "JWT", "kid": TEST_KID}, claims_of(), sign)
    with pytest.raises(TokenInvalid):
        verifier.verify(lying)


def test_token_signed_by_another_key_with_our_kid_is_refused(verifier):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(TokenInvalid, match="Signature verification failed"):
        verifier.verify(make_access_token(7, private_key=other_key, kid=TEST_KID))


def test_unknown_kid_is_refused(verifier):
    with pytest.raises(TokenInvalid, match="unknown key"):
        verifier.verify(make_access_token(7, kid="someone-elses-key"))


def test_missing_kid_is_refused(verifier):
    token = jwt.encode(claims_of(), test_private_key(), algorithm="RS256")
    assert "kid" not in jwt.get_unverified_header(token)
    with pytest.raises(TokenInvalid, match="kid"):
        verifier.verify(token)


def test_malformed_token_is_refused(verifier):
    with pytest.raises(TokenInvalid, match="malformed"):
        verifier.verify("not-a-jwt")


def test_wrong_issuer_is_refused(verifier):
    with pytest.raises(TokenInvalid, match="issuer"):
        verifier.verify(make_access_token(7, issuer="someone-else"))


def test_wrong_audience_is_refused(verifier):
    with pytest.raises(TokenInvalid, match="[Aa]udience"):
        verifier.verify(make_access_token(7, audience="another-api"))


def test_missing_audience_is_refused(verifier):
    token = jwt.encode(
        {k: v for k, v in claims_of().items() if k != "aud"},
        test_private_key(),
        algorithm="RS256",
        headers={"kid": TEST_KID},
    )
    with pytest.raises(TokenInvalid, match="aud"):
        verifier.verify(token)


def test_missing_jti_is_refused(verifier):
    token = jwt.encode(
        {k: v for k, v in claims_of().items() if k != "jti"},
        test_private_key(),
        algorithm="RS256",
        headers={"kid": TEST_KID},
    )
    with pytest.raises(TokenInvalid, match="jti"):
        verifier.verify(token)


def test_refresh_token_is_refused(verifier):
    with pytest.raises(TokenInvalid, match="not an access token"):
        verifier.verify(make_access_token(7, token_type="refresh"))


def test_refused_tokens_are_not_remembered(verifier):
    token = make_access_token(7, token_type="refresh")
    for _ in range(2):
        with pytest.raises(TokenInvalid):
            verifier.verify(token)
    assert token not in verifier._verified


def test_jwks_url_that_does_not_answer_raises_keys_unavailable_naming_it():
    url = f"http://127.0.0.1:{closed_port()}/auth/.well-known/jwks.json"
    verifier = AccessTokenVerifier(keys_from_jwks_url(url, timeout=1), issuer="food-auth")
    with pytest.raises(KeysUnavailable) as raised:
        verifier.verify(make_access_token(7))
    assert url in str(raised.value)


def jwks_of(*private_keys_by_kid) -> bytes:
    keys = []
    for kid, private_key in private_keys_by_kid:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key()))
        keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    return json.dumps({"keys": keys}).encode()


def jwks_handler(status=200, served=None):
    """A JWKS endpoint; `served["jwks"]` can be changed while it runs (a key rotation)."""
    served = served if served is not None else {}
    served.setdefault("jwks", jwks_of((TEST_KID, test_private_key())))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.server.requests.append(self.path)
            body = served["jwks"]
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def test_tokens_verify_against_a_served_jwks(http_server):
    base = http_server(jwks_handler())
    url = f"{base}/auth/.well-known/jwks.json"
    verifier = AccessTokenVerifier(
        keys_from_jwks_url(url, timeout=2), issuer="food-auth", audience="food-api"
    )
    assert verifier.verify(make_access_token(7))["sub"] == "7"
    assert verifier.verify(make_access_token(8))["sub"] == "8"
    server = http_server.servers[0]
    assert server.requests == ["/auth/.well-known/jwks.json"]  # fetched once, then cached
    with pytest.raises(TokenInvalid, match="unknown key"):
        verifier.verify(make_access_token(9, kid="rotated-away"))


def test_jwks_answering_500_is_keys_unavailable(http_server):
    url = f"{http_server(jwks_handler(status=500))}/jwks.json"
    verifier = AccessTokenVerifier(keys_from_jwks_url(url, timeout=2))
    with pytest.raises(KeysUnavailable, match="jwks.json"):
        verifier.verify(make_access_token(7))


def test_a_key_removed_from_the_jwks_is_refused_once_the_jwks_cache_expires(
    http_server, monkeypatch
):
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    served = {}
    url = f"{http_server(jwks_handler(served=served))}/jwks.json"
    verifier = AccessTokenVerifier(keys_from_jwks_url(url, timeout=2))
    assert verifier.verify(make_access_token(7))["sub"] == "7"

    # Auth rotates its key out (e.g. it leaked): the JWKS now lists only the new one.
    served["jwks"] = jwks_of(("test-key-2", new_key))
    later = time.monotonic() + 301  # past the JWKS cache's lifespan (300 s)
    monkeypatch.setattr("jwt.jwk_set_cache.time", SimpleNamespace(monotonic=lambda: later))
    monkeypatch.setattr("jwt.jwks_client.time", SimpleNamespace(monotonic=lambda: later))
    assert verifier.verify(make_access_token(8, private_key=new_key, kid="test-key-2"))
    with pytest.raises(TokenInvalid, match="unknown key"):
        verifier.verify(make_access_token(9))  # signed by the removed key

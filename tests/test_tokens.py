"""Tokens: ours verify with an outside JWKS client; forged ones are refused at the gateway AND at
each service called directly (zero trust)."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.client import Api


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(customer_access: str, **changes) -> dict:
    claims = jwt.decode(customer_access, options={"verify_signature": False})
    claims.update(jti=uuid.uuid4().hex, **changes)
    return claims


def _kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def test_access_token_verifies_with_pyjwkclient_from_our_jwks(api, stack, customer):
    client = jwt.PyJWKClient(f"{stack.gateway_url}/auth/.well-known/jwks.json")
    signing_key = client.get_signing_key_from_jwt(customer["access"])
    claims = jwt.decode(
        customer["access"],
        signing_key.key,
        algorithms=["RS256"],
        audience="food-api",
        issuer="food-auth",
    )
    assert claims["email"] == customer["email"]
    assert claims["role"] == "customer"
    assert {"sub", "exp", "jti"} <= claims.keys()


def forged_tokens(stack, access: str) -> dict[str, str]:
    kid = _kid(access)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    real_key = stack.private_key_pem
    public_pem = (
        jwt.PyJWKClient(stack.jwks_url)
        .get_signing_key(kid)
        .key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    claims = _claims(access)
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
    hs_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    payload = _b64(json.dumps(claims).encode())
    hs_signature = _b64(
        hmac.new(public_pem, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest()
    )
    return {
        "signed_with_another_key": jwt.encode(
            claims, other_key, algorithm="RS256", headers={"kid": kid}
        ),
        "expired": jwt.encode(
            _claims(access, exp=int(time.time()) - 60),
            real_key,
            algorithm="RS256",
            headers={"kid": kid},
        ),
        "alg_none": f"{none_header}.{payload}.",
        "hs256_with_public_key_as_secret": f"{hs_header}.{payload}.{hs_signature}",
        "garbage": "not-a-jwt",
    }


@pytest.mark.parametrize(
    "kind",
    [
        "signed_with_another_key",
        "expired",
        "alg_none",
        "hs256_with_public_key_as_secret",
        "garbage",
    ],
)
def test_forged_tokens_are_refused_at_gateway_and_directly_at_services(api, stack, customer, kind):
    token = forged_tokens(stack, customer["access"])[kind]

    at_gateway = api.get("/orders", token=token)
    assert at_gateway.status == 401, at_gateway
    assert at_gateway.json()["code"] == "token_not_valid"

    for service, path in [("orders", "/orders"), ("payments", "/payments"), ("auth", "/auth/me")]:
        direct = api.get(path, token=token, base_url=stack.url(service))
        assert direct.status == 401, (service, direct)
        assert direct.json()["code"] == "token_not_valid", (service, direct)


def test_valid_token_passes_gateway_and_services_directly(api, stack, customer):
    assert api.get("/orders", token=customer["access"]).status == 200
    assert api.get("/orders", token=customer["access"], base_url=stack.url("orders")).status == 200
    assert (
        api.get("/payments", token=customer["access"], base_url=stack.url("payments")).status == 200
    )


def test_missing_token_is_401_at_gateway_and_service(api, stack):
    at_gateway = api.get("/orders")
    assert at_gateway.status == 401 and at_gateway.json()["code"] == "not_authenticated", at_gateway
    direct = api.get("/orders", base_url=stack.url("orders"))
    assert direct.status == 401 and direct.json()["code"] == "not_authenticated", direct


def test_parallel_refreshes_of_one_token_through_the_gateway_give_exactly_one_pair(
    api, stack, customer
):
    # When: twelve clients (a connection each) send the same refresh token at once
    clients = [Api(stack.gateway_url) for _ in range(12)]
    with ThreadPoolExecutor(len(clients)) as pool:
        replies = list(
            pool.map(lambda c: c.post("/auth/refresh", {"refresh": customer["refresh"]}), clients)
        )

    # Then: one new pair; every other answer a 401 JSON, and the new refresh token works once
    assert sorted(r.status for r in replies) == [200] + [401] * 11, replies
    assert {r.json()["code"] for r in replies if r.status == 401} == {"token_not_valid"}
    (pair,) = [r.json() for r in replies if r.status == 200]
    assert api.post("/auth/refresh", {"refresh": customer["refresh"]}).status == 401
    assert api.post("/auth/refresh", {"refresh": pair["refresh"]}).status == 200
    assert api.post("/auth/refresh", {"refresh": pair["refresh"]}).status == 401

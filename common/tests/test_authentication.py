"""Bearer-token authentication and role permissions, through DRF views."""

import pytest

from food_common.authentication import AuthenticatedUser, bearer_token
from food_common.testing import make_access_token
from food_common.tokens import TokenInvalid, get_verifier


def test_no_header_is_401_not_authenticated_with_a_bearer_challenge(api_client):
    reply = api_client.get("/test/me", HTTP_X_REQUEST_ID="rid-1")
    assert reply.status_code == 401
    assert reply["WWW-Authenticate"] == 'Bearer realm="api"'
    assert reply.json() == {
        "detail": "Authentication credentials were not provided.",
        "code": "not_authenticated",
        "request_id": "rid-1",
    }


@pytest.mark.parametrize("header", ["Token abc", "Bearer", "Bearer   ", "Basic dXNlcjpwdw=="])
def test_other_schemes_are_401_token_not_valid(api_client, header):
    reply = api_client.get("/test/me", HTTP_AUTHORIZATION=header)
    assert reply.status_code == 401
    assert reply["WWW-Authenticate"].startswith("Bearer")
    body = reply.json()
    assert body["code"] == "token_not_valid"
    assert "Bearer <token>" in body["detail"]


def test_invalid_token_is_401_token_not_valid(api_client):
    reply = api_client.get("/test/me", HTTP_AUTHORIZATION="Bearer not.a.token")
    assert reply.status_code == 401
    assert reply.json()["code"] == "token_not_valid"


def test_expired_token_is_401(api_client):
    token = make_access_token(3, lifetime=-5)
    reply = api_client.get("/test/me", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert reply.status_code == 401
    assert reply.json()["detail"] == "Token has expired."


def test_subject_that_is_not_a_user_id_is_401(api_client):
    reply = api_client.get("/test/me", HTTP_AUTHORIZATION=f"Bearer {make_access_token('abc')}")
    assert reply.status_code == 401
    assert reply.json()["code"] == "token_not_valid"


def test_valid_token_gives_the_caller(api_client):
    token = make_access_token(42, role="restaurant_owner", email="owner@example.com")
    reply = api_client.get("/test/me", HTTP_AUTHORIZATION=f"bearer {token}")
    assert reply.status_code == 200
    body = reply.json()
    assert body == {
        "id": 42,
        "email": "owner@example.com",
        "role": "restaurant_owner",
        "is_admin": False,
        "jti": body["jti"],
        "token": token,
    }
    assert len(body["jti"]) == 32


def test_role_permission_refuses_other_roles_with_403(api_client_as):
    reply = api_client_as(5, "customer").get("/test/admin-only", HTTP_X_REQUEST_ID="rid-2")
    assert reply.status_code == 403
    assert reply.json() == {
        "detail": "Your role may not do this.",
        "code": "permission_denied",
        "request_id": "rid-2",
    }


def test_role_permission_admits_the_role(api_client_as):
    reply = api_client_as(1, "admin").get("/test/admin-only")
    assert reply.status_code == 200
    assert reply.json() == {"ok": True}


def test_role_permission_without_a_token_is_401_not_403(api_client):
    reply = api_client.get("/test/admin-only")
    assert reply.status_code == 401


def test_unavailable_signing_keys_are_503(api_client, settings):
    settings.JWT_KEY_RESOLVER = "tests.views.keys_unavailable"
    get_verifier.cache_clear()
    token = make_access_token(1)
    reply = api_client.get("/test/me", HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_REQUEST_ID="r3")
    assert reply.status_code == 503
    assert reply.json() == {
        "detail": "signing keys unavailable: JWKS at http://auth.invalid does not answer",
        "code": "auth_keys_unavailable",
        "request_id": "r3",
    }


def test_get_verifier_is_built_once_from_settings(settings):
    get_verifier.cache_clear()
    assert get_verifier() is get_verifier()
    assert get_verifier().issuer == settings.JWT_ISSUER == "food-auth"
    assert get_verifier().audience == "food-api"


def test_bearer_token_parsing():
    assert bearer_token(None) is None
    assert bearer_token("") is None
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("BEARER  abc ") == "abc"
    with pytest.raises(TokenInvalid):
        bearer_token("Token abc")


def test_authenticated_user_from_claims():
    user = AuthenticatedUser.from_claims({"sub": "9", "email": "a@b.c", "role": "admin"})
    assert (user.id, user.pk, user.email, user.role, user.is_admin) == (
        9,
        9,
        "a@b.c",
        "admin",
        True,
    )
    assert user.is_authenticated and not user.is_anonymous

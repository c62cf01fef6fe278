import jwt
import pytest
from django.core.cache import cache

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    body = response.json()
    assert response.status_code == status, body
    assert (
        body["code"] == code and body["detail"] and body["request_id"] == response["X-Request-ID"]
    )
    return body


# register


def test_register_creates_a_customer(api_client):
    response = api_client.post(
        "/auth/register", {"email": "Ann@Example.com", "password": PASSWORD}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"id", "email", "role", "date_joined"}
    assert (body["email"], body["role"]) == ("ann@example.com", "customer")
    assert User.objects.get(pk=body["id"]).check_password(PASSWORD)


@pytest.mark.parametrize("role", ["restaurant_owner", "rider"])
def test_register_a_restaurant_owner_or_a_rider(api_client, role):
    response = api_client.post(
        "/auth/register",
        {"email": "someone@example.com", "password": PASSWORD, "role": role},
        format="json",
    )

    assert response.status_code == 201
    assert response.json()["role"] == role
    # and the access token names the role, which is what every other service reads
    login = api_client.post(
        "/auth/login", {"email": "someone@example.com", "password": PASSWORD}, format="json"
    )
    access = jwt.decode(login.json()["access"], options={"verify_signature": False})
    assert access["role"] == role


def test_register_duplicate_email_is_400(api_client, user):
    response = api_client.post(
        "/auth/register", {"email": user.email.upper(), "password": PASSWORD}, format="json"
    )

    body = assert_error(response, 400, "email_taken")
    assert "email" in body["errors"]


def test_register_weak_password_is_400(api_client):
    response = api_client.post(
        "/auth/register", {"email": "ann@example.com", "password": "12345"}, format="json"
    )

    body = assert_error(response, 400, "invalid")
    assert body["errors"]["password"]
    assert not User.objects.exists()


def test_register_admin_role_is_refused(api_client):
    response = api_client.post(
        "/auth/register",
        {"email": "ann@example.com", "password": PASSWORD, "role": "admin"},
        format="json",
    )

    assert_error(response, 400, "role_not_allowed")
    assert not User.objects.exists()


def register(api_client, n: int, **extra):
    return api_client.post(
        "/auth/register",
        {"email": f"ann{n}@example.com", "password": PASSWORD},
        format="json",
        **extra,
    )


def test_register_is_throttled_per_ip(api_client, settings):
    settings.REGISTER_RATE_PER_IP = "2/min"
    settings.REGISTER_RATE_GLOBAL = "100/min"

    statuses = [register(api_client, n).status_code for n in range(2)]
    response = register(api_client, 2)

    assert statuses == [201, 201]
    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    assert User.objects.count() == 2
    # another client address is not held back
    assert register(api_client, 3, REMOTE_ADDR="10.9.8.7").status_code == 201


def test_register_has_one_ceiling_for_every_client(api_client, settings):
    settings.REGISTER_RATE_GLOBAL = "2/min"

    statuses = [register(api_client, n, REMOTE_ADDR=f"10.0.0.{n}").status_code for n in range(2)]
    response = register(api_client, 2, REMOTE_ADDR="10.0.0.99")

    assert statuses == [201, 201]
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


def test_register_refused_per_ip_does_not_use_up_the_ceiling(api_client, settings):
    settings.REGISTER_RATE_PER_IP = "1/min"
    settings.REGISTER_RATE_GLOBAL = "3/min"

    # Given: one address sends far more than its own limit
    statuses = [register(api_client, n).status_code for n in range(5)]

    # Then: only its first counted against everyone's ceiling
    assert statuses == [201] + [429] * 4
    others = [register(api_client, n, REMOTE_ADDR=f"10.0.0.{n}").status_code for n in (5, 6)]
    assert others == [201, 201]


# login


def test_login_returns_tokens_with_our_claims(api_client, user):
    response = api_client.post(
        "/auth/login", {"email": user.email.upper(), "password": PASSWORD}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    access = jwt.decode(body["access"], options={"verify_signature": False})
    assert access["sub"] == str(user.pk)
    assert (access["email"], access["role"], access["token_type"]) == (
        user.email,
        "customer",
        "access",
    )
    assert (access["iss"], access["aud"]) == ("food-auth", "food-api")
    assert {"exp", "iat", "jti"} <= set(access)
    refresh = jwt.decode(body["refresh"], options={"verify_signature": False})
    assert refresh["token_type"] == "refresh" and refresh["sub"] == str(user.pk)


@pytest.mark.parametrize(
    "email, password",
    [("nobody@example.com", PASSWORD), (None, "wrong-password")],
)
def test_login_with_bad_credentials_is_401(api_client, user, email, password):
    response = api_client.post(
        "/auth/login", {"email": email or user.email, "password": password}, format="json"
    )

    assert_error(response, 401, "no_active_account")


def test_login_of_an_inactive_user_is_401(api_client):
    user = UserFactory(is_active=False)

    response = api_client.post(
        "/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )

    assert_error(response, 401, "no_active_account")


def test_login_is_throttled_per_email(api_client, user, settings):
    settings.LOGIN_RATE_PER_EMAIL = "2/min"
    attempt = {"email": user.email, "password": "wrong-password"}

    statuses = [
        api_client.post("/auth/login", attempt, format="json").status_code for _ in range(2)
    ]
    response = api_client.post(
        "/auth/login", {**attempt, "email": user.email.upper()}, format="json"
    )

    assert statuses == [401, 401]
    assert_error(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    # another address from the same client is not held back by this one's limit
    other = api_client.post(
        "/auth/login", {"email": "x@example.com", "password": "p"}, format="json"
    )
    assert other.status_code == 401


def test_login_is_throttled_per_ip(api_client, user, settings):
    settings.LOGIN_RATE_PER_IP = "3/min"

    for n in range(3):
        api_client.post(
            "/auth/login", {"email": f"n{n}@example.com", "password": "p"}, format="json"
        )
    response = api_client.post(
        "/auth/login", {"email": user.email, "password": PASSWORD}, format="json"
    )

    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    # another client address is not held back
    response = api_client.post(
        "/auth/login",
        {"email": user.email, "password": PASSWORD},
        format="json",
        REMOTE_ADDR="10.9.8.7",
    )
    assert response.status_code == 200


def test_throttle_counters_live_under_the_cache_prefix(api_client, user):
    api_client.post("/auth/login", {"email": user.email, "password": PASSWORD}, format="json")

    assert cache.keys("throttle_login_ip_*") and cache.keys("throttle_login_email_*")


# me


def test_me_returns_the_caller(api_client, user, tokens):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    response = api_client.get("/auth/me")

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "id": user.pk,
        "email": user.email,
        "role": "customer",
        "date_joined": response.json()["date_joined"],
    }


def test_me_without_token_is_401(api_client):
    assert_error(api_client.get("/auth/me"), 401, "not_authenticated")


def test_me_with_a_token_of_a_foreign_key_is_401(api_client, api_client_as):
    # food_common's test key is not one of auth's keys
    assert_error(api_client_as(1).get("/auth/me"), 401, "token_not_valid")


def test_me_of_a_deactivated_user_is_401(api_client, user, tokens):
    User.objects.filter(pk=user.pk).update(is_active=False)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")

    assert_error(api_client.get("/auth/me"), 401, "user_not_found")


# refresh and logout


def test_refresh_rotates_the_refresh_token(api_client, tokens):
    response = api_client.post("/auth/refresh", {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 200, response.json()
    pair = response.json()
    assert set(pair) == {"access", "refresh"} and pair["refresh"] != tokens["refresh"]
    claims = jwt.decode(pair["access"], options={"verify_signature": False})
    assert claims["email"] and claims["role"] == "customer"
    # the used refresh token is revoked; the new one works once
    reused = api_client.post("/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert_error(reused, 401, "token_not_valid")
    again = api_client.post("/auth/refresh", {"refresh": pair["refresh"]}, format="json")
    assert again.status_code == 200


def test_refresh_refuses_an_access_token(api_client, tokens):
    response = api_client.post("/auth/refresh", {"refresh": tokens["access"]}, format="json")

    assert_error(response, 401, "token_not_valid")


def test_refresh_of_a_deleted_user_is_401(api_client, user, tokens):
    user.delete()

    response = api_client.post("/auth/refresh", {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 401


def test_logout_revokes_the_refresh_token(api_client, tokens):
    response = api_client.post("/auth/logout", {"refresh": tokens["refresh"]}, format="json")

    assert response.status_code == 204
    refused = api_client.post("/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert_error(refused, 401, "token_not_valid")
    again = api_client.post("/auth/logout", {"refresh": tokens["refresh"]}, format="json")
    assert again.status_code == 401


def test_logout_without_refresh_is_400(api_client):
    body = assert_error(api_client.post("/auth/logout", {}, format="json"), 400, "invalid")

    assert "refresh" in body["errors"]


# keys


def test_access_token_verifies_with_the_jwks(api_client, tokens):
    response = api_client.get("/auth/.well-known/jwks.json")

    assert response.status_code == 200
    assert "max-age=300" in response["Cache-Control"]
    header = jwt.get_unverified_header(tokens["access"])
    assert header["alg"] == "RS256" and header["kid"]
    jwk = next(key for key in response.json()["keys"] if key["kid"] == header["kid"])
    assert (jwk["kty"], jwk["use"], jwk["alg"]) == ("RSA", "sig", "RS256")
    claims = jwt.decode(
        tokens["access"],
        jwt.PyJWK(jwk).key,
        algorithms=["RS256"],
        audience="food-api",
        issuer="food-auth",
    )
    assert claims["token_type"] == "access"
    assert jwt.get_unverified_header(tokens["refresh"])["kid"] == header["kid"]


def test_schema_documents_the_auth_endpoints(api_client):
    response = api_client.get("/schema", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ["register", "login", "refresh", "logout", "me", ".well-known/jwks.json"]:
        assert f"/auth/{path}" in paths
    login = paths["/auth/login"]["post"]
    assert "TokenPairOutput" in str(login["responses"]["200"])
    for throttled in (login, paths["/auth/register"]["post"]):
        assert "Retry-After" in throttled["responses"]["429"]["headers"]

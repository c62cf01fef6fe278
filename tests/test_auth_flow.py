"""Identity through the gateway: register, login, me, refresh rotation, logout revocation."""

from tests.client import PASSWORD


def test_register_login_and_me_through_gateway(api, unique_email):
    reply = api.post("/auth/register", {"email": unique_email, "password": PASSWORD})
    assert reply.status == 201, reply
    user = reply.json()
    assert user["email"] == unique_email and user["role"] == "customer"
    assert "password" not in user

    tokens = api.post("/auth/login", {"email": unique_email, "password": PASSWORD}).json()
    me = api.get("/auth/me", token=tokens["access"])
    assert me.status == 200, me
    assert me.json()["email"] == unique_email
    assert me.json()["id"] == user["id"]


def test_register_refuses_duplicate_email_weak_password_and_admin_role(api, customer):
    unique_email = f"other-{customer['email']}"
    duplicate = api.post("/auth/register", {"email": customer["email"], "password": PASSWORD})
    assert duplicate.status == 400 and "email" in duplicate.json()["errors"], duplicate

    weak = api.post("/auth/register", {"email": unique_email, "password": "123"})
    assert weak.status == 400 and "password" in weak.json()["errors"], weak

    admin = api.post(
        "/auth/register", {"email": unique_email, "password": PASSWORD, "role": "admin"}
    )
    assert admin.status == 400 and "role" in admin.json()["errors"], admin
    # Nothing was created by the refused attempts.
    assert api.post("/auth/login", {"email": unique_email, "password": PASSWORD}).status == 401


def test_login_with_bad_credentials_is_401_json(api, customer):
    reply = api.post("/auth/login", {"email": customer["email"], "password": "wrong-password-1"})
    assert reply.status == 401
    assert reply.json()["code"] and reply.json()["detail"]


def test_refresh_rotates_and_the_old_refresh_token_is_refused(api, customer):
    rotated = api.post("/auth/refresh", {"refresh": customer["refresh"]})
    assert rotated.status == 200, rotated
    new = rotated.json()
    assert new["refresh"] != customer["refresh"] and new["access"]
    assert api.get("/auth/me", token=new["access"]).status == 200

    reused = api.post("/auth/refresh", {"refresh": customer["refresh"]})
    assert reused.status == 401, reused


def test_logout_revokes_the_refresh_token(api, customer):
    reply = api.post("/auth/logout", {"refresh": customer["refresh"]}, token=customer["access"])
    assert reply.status in (200, 204, 205), reply
    assert api.post("/auth/refresh", {"refresh": customer["refresh"]}).status == 401

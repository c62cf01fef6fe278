"""One JSON error shape for every error, from DRF views and from Django itself."""

import json

import pytest
from django.test import Client

RID = "req-123"


def test_validation_error_lists_the_fields(api_client):
    reply = api_client.post(
        "/test/items", {"name": "x" * 11, "quantity": 0}, format="json", HTTP_X_REQUEST_ID=RID
    )
    assert reply.status_code == 400
    assert reply.json() == {
        "detail": "Invalid input.",
        "code": "invalid",
        "errors": {
            "name": ["Ensure this field has no more than 10 characters."],
            "quantity": ["Ensure this value is greater than or equal to 1."],
        },
        "request_id": RID,
    }


def test_valid_input_passes(api_client):
    reply = api_client.post("/test/items", {"name": "soup", "quantity": 2}, format="json")
    assert reply.status_code == 201
    assert reply.json() == {"name": "soup", "quantity": 2}


def test_domain_conflict_is_409_with_its_code_and_extra_fields(api_client):
    reply = api_client.post("/test/conflict", {}, format="json", HTTP_X_REQUEST_ID=RID)
    assert reply.status_code == 409
    assert reply.json() == {
        "detail": "The order is already paid.",
        "code": "conflict",
        "current_status": "paid",
        "request_id": RID,
    }


@pytest.mark.django_db
def test_http404_from_get_object_or_404_is_not_found(api_client):
    reply = api_client.get("/test/notes/987654", HTTP_X_REQUEST_ID=RID)
    assert reply.status_code == 404
    body = reply.json()
    assert body["code"] == "not_found"
    assert body["request_id"] == RID
    assert set(body) == {"detail", "code", "request_id"}


def test_method_not_allowed_has_its_code(api_client):
    reply = api_client.delete("/test/items")
    assert reply.status_code == 405
    assert reply.json()["code"] == "method_not_allowed"


def test_unexpected_exception_in_a_drf_view_is_500_json(api_client, caplog):
    reply = api_client.get("/test/crash", HTTP_X_REQUEST_ID=RID)
    assert reply.status_code == 500
    assert reply["Content-Type"] == "application/json"
    assert reply.json() == {
        "detail": "Internal server error.",
        "code": "server_error",
        "request_id": RID,
    }
    # The bug is logged with its traceback (the client sees nothing of it).
    logged = [r for r in caplog.records if r.name == "food_common.errors"]
    assert logged and logged[0].exc_info[0] is RuntimeError
    assert "CrashView" in logged[0].getMessage()


def test_unexpected_exception_in_a_plain_view_is_500_json():
    reply = Client(raise_request_exception=False).get("/test/plain-crash", HTTP_X_REQUEST_ID=RID)
    assert reply.status_code == 500
    assert reply["Content-Type"] == "application/json"
    assert reply.json() == {
        "detail": "Internal server error.",
        "code": "server_error",
        "request_id": RID,
    }


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_url_is_json_404_even_in_debug(client, settings, debug):
    settings.DEBUG = debug
    reply = client.get("/no/such/page", HTTP_X_REQUEST_ID=RID)
    assert reply.status_code == 404
    assert reply["Content-Type"] == "application/json"
    assert reply.json() == {"detail": "Not found.", "code": "not_found", "request_id": RID}


def test_oversize_json_body_to_a_drf_view_is_413_json(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    reply = api_client.post(
        "/test/items", {"name": "x" * 200, "quantity": 1}, format="json", HTTP_X_REQUEST_ID=RID
    )
    assert reply.status_code == 413
    assert reply.json() == {
        "detail": "Request body is too large.",
        "code": "request_too_large",
        "request_id": RID,
    }


def test_oversize_body_to_a_plain_view_is_413_json(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    reply = client.post(
        "/test/plain-body",
        json.dumps({"name": "x" * 200}),
        content_type="application/json",
        HTTP_X_REQUEST_ID=RID,
    )
    assert reply.status_code == 413
    assert reply.json() == {
        "detail": "Request body is too large.",
        "code": "request_too_large",
        "request_id": RID,
    }


def test_body_under_the_limit_is_read(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    reply = client.post("/test/plain-body", "{}", content_type="application/json")
    assert reply.status_code == 200
    assert reply.json() == {"size": 2}


def test_malformed_json_is_a_parse_error(api_client):
    reply = api_client.post(
        "/test/items", '{"name": "soup",', content_type="application/json", HTTP_X_REQUEST_ID=RID
    )
    assert reply.status_code == 400
    body = reply.json()
    assert body["code"] == "parse_error"
    assert body["detail"].startswith("JSON parse error")
    assert body["request_id"] == RID


# --- hostile input: every answer is the JSON error, never a 500 or an HTML page -----------------


def test_a_bad_host_header_is_a_json_400(client, settings):
    settings.DEBUG = False  # the default (food_common.settings_base)
    reply = client.get("/test/items", HTTP_HOST="bad!host", HTTP_X_REQUEST_ID=RID)
    assert reply.status_code == 400
    assert reply["Content-Type"] == "application/json"
    assert reply.json() == {
        "detail": "The Host header is not valid.",
        "code": "bad_request",
        "request_id": RID,
    }


def test_a_host_outside_allowed_hosts_is_a_json_400(client, settings):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    reply = client.post("/no/such/page", HTTP_HOST="evil.example.com", HTTP_X_REQUEST_ID=RID)
    assert reply.status_code == 400
    assert reply.json()["code"] == "bad_request"
    assert client.get("/health", HTTP_HOST="api.example.com").status_code == 200


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_a_parse_error(api_client, depth):
    body = "[" * depth + "]" * depth
    reply = api_client.post(
        "/test/items", body, content_type="application/json", HTTP_X_REQUEST_ID=RID
    )
    assert reply.status_code == 400
    assert reply.json() == {
        "detail": "JSON parse error - the document is nested too deeply.",
        "code": "parse_error",
        "request_id": RID,
    }


def test_json_that_is_not_utf8_is_a_parse_error(api_client):
    reply = api_client.post("/test/items", b'{"name": "\xff"}', content_type="application/json")
    assert reply.status_code == 400
    assert reply.json()["code"] == "parse_error"


def test_nesting_the_parser_can_read_still_reaches_the_serializer(api_client):
    reply = api_client.post("/test/items", "[" * 50 + "]" * 50, content_type="application/json")
    assert reply.status_code == 400
    assert reply.json()["code"] == "invalid"


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_any_method_to_an_unknown_path_is_json_404_not_a_csrf_failure(method):
    # A client that checks CSRF as a browser's request would be checked, with a session cookie.
    client = Client(enforce_csrf_checks=True)
    client.cookies["common_sessionid"] = "whatever"
    reply = getattr(client, method)(
        "/orders/6/cancle", "{}", content_type="application/json", HTTP_X_REQUEST_ID=RID
    )
    assert reply.status_code == 404
    assert reply.json() == {"detail": "Not found.", "code": "not_found", "request_id": RID}


@pytest.mark.django_db
def test_token_authenticated_api_needs_no_csrf_token_even_with_a_session(api_client_as):
    """DRF views are CSRF-exempt and no service authenticates by session (no CSRF to enforce)."""
    from django.contrib.auth import get_user_model

    client = api_client_as(1, "customer")
    client.handler.enforce_csrf_checks = True
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw")
    client.force_login(admin)  # an admin session cookie in the same client
    assert client.get("/test/me").json()["id"] == 1  # the token, not the session, authenticates
    reply = client.post("/test/items", {"name": "soup", "quantity": 1}, format="json")
    assert reply.status_code == 201


def test_no_service_authenticates_by_session():
    from food_common import settings_base

    classes = settings_base.REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]
    assert not [c for c in classes if "Session" in c]


@pytest.mark.django_db
def test_csrf_failure_on_an_admin_form_is_json_for_an_api_client():
    client = Client(enforce_csrf_checks=True)
    reply = client.post(
        "/admin/common/login/",
        {"username": "boss", "password": "pw"},
        HTTP_ACCEPT="application/json",
        HTTP_X_REQUEST_ID=RID,
    )
    assert reply.status_code == 403
    assert reply["Content-Type"] == "application/json"
    body = reply.json()
    assert body["code"] == "csrf_failed"
    assert body["detail"].startswith("CSRF check failed: ")
    assert body["request_id"] == RID
    assert set(body) == {"detail", "code", "request_id"}


@pytest.mark.django_db
def test_csrf_failure_on_an_admin_form_is_djangos_page_for_a_browser():
    client = Client(enforce_csrf_checks=True)
    reply = client.post(
        "/admin/common/login/",
        {"username": "boss", "password": "pw"},
        HTTP_ACCEPT="text/html,application/xhtml+xml",
    )
    assert reply.status_code == 403
    assert reply["Content-Type"].startswith("text/html")

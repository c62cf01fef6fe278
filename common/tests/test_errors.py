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

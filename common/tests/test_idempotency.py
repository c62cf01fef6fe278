"""The shared Idempotency-Key rules: reading the header, the request fingerprint, the errors."""

import hashlib
import json

import pytest
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from food_common.idempotency import (
    HEADER,
    MAX_KEY_LENGTH,
    IdempotencyKeyInUse,
    IdempotencyKeyInvalid,
    IdempotencyKeyReused,
    ensure_same_request,
    idempotency_key_from,
    request_fingerprint,
)

BODY = {"item_id": 12, "card_number": "4242424242424242"}


class KeyedView(APIView):
    """An endpoint that reads the header the way a service's view does."""

    permission_classes = [AllowAny]
    required = True

    def post(self, request):
        key = idempotency_key_from(request.headers, required=self.required)
        ensure_same_request(
            first=request_fingerprint(BODY), retry=request_fingerprint(request.data), first_id=7
        )
        return Response({"key": key})


def post(body: dict, *, required: bool = True, **headers):
    request = APIRequestFactory().post("/keyed", body, format="json", **headers)
    response = KeyedView.as_view(required=required)(request)
    response.render()
    return response.status_code, json.loads(response.content)


# -- the header --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("attempt-12-try-1", "attempt-12-try-1"),
        ("  padded\t", "padded"),
        ("x" * MAX_KEY_LENGTH, "x" * MAX_KEY_LENGTH),
        ("café", "café"),
    ],
)
def test_a_valid_key_is_returned_stripped(raw, key):
    assert idempotency_key_from({HEADER: raw}) == key
    assert idempotency_key_from({HEADER: raw}, required=False) == key


@pytest.mark.parametrize("raw", [None, "", "   "])
def test_a_required_key_that_is_missing_or_blank_is_400_required(raw):
    headers = {} if raw is None else {HEADER: raw}

    with pytest.raises(IdempotencyKeyInvalid) as refused:
        idempotency_key_from(headers)

    assert refused.value.status_code == 400
    assert refused.value.code == "idempotency_key_required"


def test_an_optional_key_may_be_absent_but_not_blank():
    assert idempotency_key_from({}, required=False) is None
    for blank in ("", "  "):
        with pytest.raises(IdempotencyKeyInvalid) as refused:
            idempotency_key_from({HEADER: blank}, required=False)
        assert refused.value.code == "idempotency_key_invalid"


@pytest.mark.parametrize("required", [True, False])
@pytest.mark.parametrize(
    "raw", ["x" * (MAX_KEY_LENGTH + 1), "tab\there", "nul\x00byte", "line\nbreak", "del\x7f"]
)
def test_a_long_key_or_one_with_control_characters_is_400_invalid(raw, required):
    with pytest.raises(IdempotencyKeyInvalid) as refused:
        idempotency_key_from({HEADER: raw}, required=required)

    assert refused.value.status_code == 400
    assert refused.value.code == "idempotency_key_invalid"


@pytest.mark.parametrize(
    ("headers", "required", "code"),
    [
        ({}, True, "idempotency_key_required"),
        ({"HTTP_IDEMPOTENCY_KEY": ""}, False, "idempotency_key_invalid"),
        ({"HTTP_IDEMPOTENCY_KEY": "x" * 256}, True, "idempotency_key_invalid"),
    ],
)
def test_a_refused_key_is_the_error_json_naming_the_header(headers, required, code):
    status, body = post(BODY, required=required, **headers)

    assert status == 400
    assert body["code"] == code
    assert body["errors"] == {HEADER: [body["detail"]]}
    assert HEADER in body["detail"]


def test_through_a_view_a_key_is_read_from_the_request_headers():
    assert post(BODY, HTTP_IDEMPOTENCY_KEY=" k-1 ") == (200, {"key": "k-1"})
    assert post(BODY, required=False) == (200, {"key": None})


# -- the fingerprint ---------------------------------------------------------------------------


def test_the_fingerprint_ignores_key_order_and_sees_every_value():
    fingerprint = request_fingerprint(BODY)

    assert request_fingerprint(dict(reversed(BODY.items()))) == fingerprint
    assert request_fingerprint({**BODY, "item_id": 13}) != fingerprint
    assert request_fingerprint({**BODY, "note": None}) != fingerprint
    assert request_fingerprint({"items": [1, 2]}) != request_fingerprint({"items": [2, 1]})
    assert len(fingerprint) == 64 and int(fingerprint, 16) >= 0


def test_the_fingerprint_is_keyed_not_a_plain_hash_of_the_body(settings):
    canonical = json.dumps(BODY, sort_keys=True, separators=(",", ":"))
    fingerprint = request_fingerprint(BODY)

    assert fingerprint != hashlib.sha256(canonical.encode()).hexdigest()
    assert request_fingerprint(BODY, salt="another purpose") != fingerprint
    settings.SECRET_KEY = "another secret key, another deployment"
    assert request_fingerprint(BODY) != fingerprint


# -- the errors --------------------------------------------------------------------------------


def test_the_same_key_with_other_parameters_is_422_with_the_callers_fields():
    assert post(BODY, HTTP_IDEMPOTENCY_KEY="k")[0] == 200

    status, body = post({**BODY, "item_id": 13}, HTTP_IDEMPOTENCY_KEY="k")

    assert status == 422
    assert body["code"] == "idempotency_key_reused"
    assert body["first_id"] == 7
    assert "errors" not in body


def test_a_missing_first_fingerprint_never_matches():
    with pytest.raises(IdempotencyKeyReused):
        ensure_same_request(first="", retry=request_fingerprint(BODY))


def test_a_key_in_use_is_a_409_conflict():
    error = IdempotencyKeyInUse()

    assert (error.status_code, error.code) == (409, "idempotency_key_in_use")

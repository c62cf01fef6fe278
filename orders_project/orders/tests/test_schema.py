"""The OpenAPI description documents every orders endpoint with its request and error shapes."""

import pytest


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize(
    ("path", "method", "request_body", "statuses"),
    [
        ("/orders", "get", False, {"200", "400", "401", "404"}),
        ("/orders", "post", True, {"201", "200", "400", "401", "403", "422", "502", "503"}),
        ("/orders/{order_id}", "get", False, {"200", "401", "404"}),
        ("/orders/{order_id}/cancel", "post", True, {"200", "400", "401", "404", "409"}),
        ("/orders/{order_id}/status", "post", True, {"200", "400", "401", "403", "404", "409"}),
    ],
)
# Every operation with a body can also answer 413 (too large) and 415 (not JSON).
def test_every_endpoint_is_documented(schema, path, method, request_body, statuses):
    operation = schema["paths"][path][method]

    body_errors = {"413", "415"} if request_body else set()
    assert set(operation["responses"]) == statuses | body_errors
    assert ("requestBody" in operation) is request_body
    for status in statuses - {"200", "201"}:
        content = operation["responses"][status]["content"]["application/json"]["schema"]
        assert content["$ref"].split("/")[-1] in {"OrderError", "OrderTransitionError"}
    for status in body_errors:
        content = operation["responses"][status]["content"]["application/json"]["schema"]
        assert content["$ref"] == "#/components/schemas/Error"


def test_the_first_history_entry_has_a_documented_from_status(schema):
    """The first entry's from_status is "" (the order had no status): the schema allows it."""
    from_status = schema["components"]["schemas"]["OrderStatusChange"]["properties"]["from_status"]

    refs = {choice["$ref"].split("/")[-1] for choice in from_status["oneOf"]}
    assert refs == {"OrderStatusEnum", "BlankEnum"}
    assert schema["components"]["schemas"]["BlankEnum"]["enum"] == [""]


def test_payable_is_a_documented_read_only_boolean(schema):
    payable = schema["components"]["schemas"]["Order"]["properties"]["payable"]

    assert payable["type"] == "boolean"
    assert payable["readOnly"] is True
    assert "payment may start" in payable["description"]
    assert "payable" in schema["components"]["schemas"]["Order"]["required"]


def test_the_idempotency_key_header_is_documented(schema):
    parameters = schema["paths"]["/orders"]["post"]["parameters"]
    assert [p["name"] for p in parameters if p["in"] == "header"] == ["Idempotency-Key"]


def test_the_schema_is_served(api_client, db):
    response = api_client.get("/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200


def test_the_detail_documents_its_delivery(schema):
    components = schema["components"]["schemas"]
    delivery = components["OrderDetail"]["properties"]["delivery"]
    assert delivery["nullable"] is True and delivery["readOnly"] is True
    shape = components["OrderDelivery"]
    assert set(shape["required"]) == {"id", "status", "rider", "position"}
    assert shape["properties"]["position"]["nullable"] is True
    assert set(components["OrderRiderPosition"]["properties"]) == {"lat", "lon", "at"}
    place = schema["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]
    required = components[place["schema"]["$ref"].split("/")[-1]]["required"]
    assert {"delivery_address", "delivery_lat", "delivery_lon"} <= set(required)

"""The merged OpenAPI document declares the answers the gateway gives itself on every operation."""

from gateway.views import merge_schemas

ERROR_REF = "#/components/schemas/Error"


def _service_document() -> dict:
    error = {"application/json": {"schema": {"$ref": ERROR_REF}}}
    return {
        "openapi": "3.0.3",
        "paths": {
            "/orders": {
                "get": {"responses": {"200": {"description": "ok"}}},
                "post": {
                    "requestBody": {"content": {"application/json": {"schema": {}}}},
                    "responses": {
                        "201": {"description": "placed"},
                        "503": {"description": "the catalog is down", "content": error},
                    },
                },
            },
            "/health": {"get": {"responses": {"200": {"description": "ok"}}}},
        },
        "components": {"schemas": {"Error": {"type": "object"}}},
    }


def test_every_operation_declares_the_gateways_own_errors():
    merged = merge_schemas({"orders": _service_document()})

    get = merged["paths"]["/orders"]["get"]["responses"]
    assert set(get) == {"200", "400", "401", "429", "502", "503", "504"}
    gateway_error = get["502"]["content"]["application/json"]["schema"]["$ref"]
    assert merged["components"]["schemas"][gateway_error.rsplit("/", 1)[1]]["required"] == [
        "detail",
        "code",
        "request_id",
    ]
    post = merged["paths"]["/orders"]["post"]["responses"]
    assert {"408", "413"} <= set(post)  # a body can be slow or too large
    # What the service documents itself stays as it is.
    assert post["503"]["description"] == "the catalog is down"
    assert "/health" not in merged["paths"]

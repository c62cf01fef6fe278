"""The gateway's own endpoints: health, readiness (details: `readiness()`), the merged schema and docs."""

import copy
import logging
import threading
import time

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from drf_spectacular.views import SpectacularSwaggerView

from food_common.health import run_checks, safe_methods_only
from food_common.http import ServiceClient, UpstreamError

logger = logging.getLogger(__name__)

API_UPSTREAMS = ("auth", "catalog", "orders", "payments", "delivery")
SCHEMA_TTL = 60.0
READY_TTL = 1.0


def _client(name: str) -> ServiceClient:
    return ServiceClient(
        name,
        settings.UPSTREAMS[name],
        connect_timeout=0.5,
        read_timeout=settings.GATEWAY_READ_TIMEOUT,
    )


def upstream_health() -> dict[str, dict[str, str]]:
    """Return, per upstream, each copy's `/health` outcome ("ok" or why not)."""
    report = {}
    for name in API_UPSTREAMS:
        copies = {}
        for base_url in settings.UPSTREAMS[name]:
            try:
                response = ServiceClient(
                    name, [base_url], connect_timeout=0.5, read_timeout=1.0
                ).request("GET", "/health")
                copies[base_url] = (
                    "ok" if response.status == 200 else f"error: HTTP {response.status}"
                )
            except UpstreamError as exc:
                copies[base_url] = f"error: {exc}"
        report[name] = copies
    return report


def readiness() -> tuple[dict, int]:
    """Return the gateway's readiness details and their HTTP status (503 only if its own DB/Redis fail).

    An upstream with no healthy copy makes the gateway "degraded", not unready: taking every
    gateway out of the load balancer because one service is down would stop the whole API.
    The details name every upstream URL: they are served on the internal port only
    (gateway.metrics_server), the public /ready says just the status.
    """
    checks = run_checks(settings.READY_CHECKS)
    upstreams = upstream_health()
    failed = [name for name, outcome in checks.items() if outcome != "ok"]
    degraded = [name for name, copies in upstreams.items() if "ok" not in copies.values()]
    state = "unavailable" if failed else ("degraded" if degraded else "ok")
    details = {
        "status": state,
        "service": "gateway",
        "checks": checks,
        "upstreams": upstreams,
        **({"failed": failed} if failed else {}),
        **({"degraded": degraded} if degraded else {}),
    }
    return details, 503 if failed else 200


class _Cached:
    """A value built by `build()` at most once every `ttl` seconds, whoever asks and how often.

    Callers that come while it is being built wait for that build rather than start their own.
    """

    def __init__(self, build, ttl: float, clock=time.monotonic):
        self.build, self.ttl, self.clock = build, ttl, clock
        self.lock = threading.Lock()
        self.clear()

    def get(self):
        with self.lock:
            if self.built_at is None or self.clock() - self.built_at > self.ttl:
                self.value = self.build()
                self.built_at = self.clock()
            return self.value

    def clear(self) -> None:
        with self.lock:
            self.value, self.built_at = None, None


# The public /ready answers anyone: it probes the gateway's database, Redis and every upstream
# copy at most once every READY_TTL seconds, so that a client asking in a loop costs the services
# nothing (a readiness probe asks every few seconds). The internal port's /ready probes each time.
public_readiness = _Cached(readiness, READY_TTL)
schema_cache = _Cached(lambda: merge_schemas(fetch_schemas()), SCHEMA_TTL)


@safe_methods_only
def ready(request):
    """Say whether the gateway is ready ("ok", "degraded" or "unavailable"), nothing more."""
    details, status = public_readiness.get()
    return JsonResponse({"status": details["status"]}, status=status)


def fetch_schemas() -> dict[str, dict]:
    """Return each upstream's OpenAPI document (JSON), skipping those that do not answer."""
    documents = {}
    for name in API_UPSTREAMS:
        try:
            response = _client(name).request(
                "GET", "/schema", headers={"Accept": "application/vnd.oai.openapi+json"}
            )
        except UpstreamError as exc:
            logger.warning("schema of %s unavailable: %s", name, exc)
            continue
        if response.status == 200:
            documents[name] = response.json()
    return documents


def merge_schemas(documents: dict[str, dict]) -> dict:
    """Return one OpenAPI document with every service's public paths and components.

    A component name two services define differently is renamed `<Service><Name>` in the second.
    """
    merged = {
        "openapi": "3.0.3",
        "info": {
            "title": "Food ordering API",
            "version": "1.0.0",
            "description": "The public API, served through the gateway. Services missing from this "
            "document did not answer when it was built: "
            + ", ".join(n for n in API_UPSTREAMS if n not in documents)
            or "none.",
        },
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {}},
    }
    internal = ("/health", "/ready", "/schema")
    for name, document in documents.items():
        document = copy.deepcopy(document)
        components = document.get("components", {})
        for kind in ("schemas", "securitySchemes"):
            for component, definition in components.get(kind, {}).items():
                existing = merged["components"][kind].get(component)
                if existing is not None and existing != definition:
                    renamed = f"{name.capitalize()}{component}"
                    document = _rename_ref(
                        document,
                        f"#/components/{kind}/{component}",
                        f"#/components/{kind}/{renamed}",
                    )
                    merged["components"][kind][renamed] = definition
                else:
                    merged["components"][kind][component] = definition
        for path, operations in document.get("paths", {}).items():
            if path in internal or path.startswith("/admin/"):
                continue
            merged["paths"][path] = operations
    _add_gateway_answers(merged)
    return merged


# The answers the gateway gives itself, before or instead of forwarding (gateway.proxy, edge).
GATEWAY_ERROR = {
    "type": "object",
    "description": "An error the gateway answers itself; the same shape as every service's.",
    "properties": {
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": {}},
        "request_id": {"type": "string"},
    },
    "required": ["detail", "code", "request_id"],
}
GATEWAY_ANSWERS = {
    "400": "`bad_request`: a target or header the gateway refuses (not ASCII or UTF-8, a control "
    "character, a repeated or malformed framing header).",
    "401": "`not_authenticated` (a protected route without a token) or `token_not_valid`: the "
    "gateway refuses before forwarding.",
    "429": "`throttled` (too many requests from this client; see `Retry-After`) or "
    "`too_many_connections` (too many of its requests in progress at once).",
    "502": "`bad_gateway`: the service gave no valid answer or dropped the connection.",
    "503": "`upstream_unavailable` (no copy of the service is reachable, or its circuit is open) "
    "or `auth_keys_unavailable`.",
    "504": "`upstream_timeout`: the service did not answer in time.",
}
GATEWAY_BODY_ANSWERS = {
    "408": "`request_timeout`: the body did not arrive in time.",
    "413": "`request_too_large`: the body is over the gateway's limit.",
}


def _add_gateway_answers(document: dict) -> None:
    """Document on every operation the errors the gateway itself can answer (if not already)."""
    document["components"]["schemas"]["GatewayError"] = GATEWAY_ERROR
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayError"}}}
    for operations in document["paths"].values():
        for method, operation in operations.items():
            if method not in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
                continue
            answers = dict(GATEWAY_ANSWERS)
            if "requestBody" in operation:
                answers.update(GATEWAY_BODY_ANSWERS)
            responses = operation.setdefault("responses", {})
            for status, description in answers.items():
                responses.setdefault(status, {"description": description, "content": content})
            operation["responses"] = dict(sorted(responses.items()))


def _rename_ref(node, old: str, new: str):
    if isinstance(node, dict):
        return {
            k: (new if k == "$ref" and v == old else _rename_ref(v, old, new))
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rename_ref(v, old, new) for v in node]
    return node


@safe_methods_only
def schema(request):
    return JsonResponse(schema_cache.get())


docs = SpectacularSwaggerView.as_view(url="/schema")


@safe_methods_only
def admins(request):
    """The index of every admin (the gateway's and each service's), /docs and Flower."""
    from gateway.routes import PROJECTS

    links = [("gateway", "/admin/gateway/")]
    links += [(project, f"/admin/{project}/") for project in sorted(PROJECTS)]
    return render(
        request,
        "gateway/admins.html",
        {"admins": links, "flower": settings.GATEWAY_PROXY_FLOWER},
    )

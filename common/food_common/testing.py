"""Test helpers: a throw-away RSA key pair that signs access tokens the way auth does, a way to
run calls in parallel threads against the real database, event envelopes as the contract
describes them (`envelope()`, `published()`), and a tour of a service's admin (`admin_tour()`).

Projects use it in unit tests through the pytest plugin `food_common.pytest_plugin`, which points
`JWT_KEY_RESOLVER` at this key so a service's own tests need no running auth service.
"""

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TEST_KID = "test-key-1"
# The users of every project's tests (the pytest plugin's `customer`, `owner`... fixtures).
OWNER, OTHER_OWNER, CUSTOMER, OTHER_CUSTOMER, ADMIN = 101, 102, 201, 202, 301


@lru_cache(maxsize=1)
def test_private_key():
    """Return the RSA private key of this test process (made once; 2048 bits)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_public_key_for_kid(kid: str):
    """Key resolver for tests: the public half of `test_private_key()` for TEST_KID."""
    from food_common.tokens import TokenInvalid

    if kid != TEST_KID:
        raise TokenInvalid("Token is signed with an unknown key.")
    return test_private_key().public_key()


# Helpers, not tests: pytest must not collect them when a test module imports them by name.
test_private_key.__test__ = test_public_key_for_kid.__test__ = False


def make_access_token(
    user_id: int = 1,
    *,
    role: str = "customer",
    email: str | None = None,
    lifetime: int = 300,
    private_key=None,
    kid: str = TEST_KID,
    algorithm: str = "RS256",
    issuer: str = "food-auth",
    audience: str = "food-api",
    **claims,
) -> str:
    """Return a signed access token with the claims auth puts in one."""
    now = int(time.time())
    payload = {
        "token_type": "access",
        "sub": str(user_id),
        "email": email or f"user{user_id}@example.com",
        "role": role,
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
        "iss": issuer,
        "aud": audience,
        **claims,
    }
    key = private_key if private_key is not None else test_private_key()
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


def private_key_pem(key=None) -> str:
    """Return a private key as PEM text."""
    key = key or test_private_key()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def run_together(calls: list) -> list:
    """Return the results of each call, run each in its own thread (and database connection)."""
    from django.db import connection  # here: the module is imported before Django is set up

    def run(call):
        try:
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def envelope(event_type: str, data: dict, *, validate: bool = True, **overrides) -> dict:
    """Return the envelope of `event_type` carrying `data`, as its producer sends it.

    Version and producer are the contract's, `request_id` is "test-request", and it is signed with
    EVENT_SIGNING_KEY after `overrides` (any envelope field: `id`, `request_id`...) are applied.
    The envelope, data included, is checked against the contract: `validate=False` builds one that
    breaks it (a consumer's test of a malformed event).
    """
    from django.core.serializers.json import DjangoJSONEncoder
    from django.utils import timezone

    from food_common.events.contract import get_contract
    from food_common.events.signing import sign

    contract = get_contract()
    spec = contract.events.get(event_type)
    built = sign(
        {
            "id": str(uuid.uuid4()),
            "type": event_type,
            "version": spec.version if spec else 1,
            "occurred_at": timezone.now().isoformat(),
            "producer": spec.producer if spec else "",
            "request_id": "test-request",
            # Plain JSON, as publish() stores it (Decimals, dates and UUIDs as strings).
            "data": json.loads(json.dumps(data, cls=DjangoJSONEncoder)),
            **overrides,
        }
    )
    if validate:
        contract.validate_envelope(built)
    return built


def published(event_type: str | None = None) -> list[dict]:
    """Return the envelopes in the outbox (of `event_type` if given), oldest first, each checked
    against the contract (ContractViolation if one breaks it)."""
    from food_common.events.contract import get_contract
    from food_common.events.models import OutboxEvent

    rows = OutboxEvent.objects.order_by("occurred_at")
    if event_type is not None:
        rows = rows.filter(type=event_type)
    envelopes = [row.envelope() for row in rows]
    for each in envelopes:
        get_contract().validate_envelope(each)
    return envelopes


@dataclass
class AdminTour:
    """What `admin_tour()` saw: the pages it opened, the models shown as records (view only, as
    "app_label.model_name") and what was wrong."""

    pages: list[str] = field(default_factory=list)
    records: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def admin_tour(client, service: str) -> AdminTour:
    """Open the admin of `service` as the staff user logged in on `client` does, and check it.

    Its index, every model's list and the page of each list's first row must answer 200 under
    the service's header ("Food · <service>"). A model the index offers view only (no add, change
    or delete) is a record: its add and delete pages must be refused, its list must offer no
    delete action.
    """
    from django.urls import reverse

    tour = AdminTour()
    header = f"Food · {service}"

    def visit(url: str, status: int = 200):
        response = client.get(url)
        tour.pages.append(url)
        if response.status_code != status:
            tour.problems.append(f"{url}: {response.status_code}, not {status}")
        elif status == 200 and header not in response.content.decode():
            tour.problems.append(f"{url}: no {header!r} header")
        return response

    index = visit(reverse("admin:index"))
    for app in index.context["app_list"]:
        for model in app["models"]:
            listed = visit(model["admin_url"])
            changelist = listed.context["cl"]
            first = changelist.result_list[0] if changelist.result_count else None
            if first is not None:
                visit(changelist.url_for_result(first))
            if any(model["perms"][perm] for perm in ("add", "change", "delete")):
                continue
            opts = changelist.opts
            tour.records.append(f"{opts.app_label}.{opts.model_name}")
            visit(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"), 403)
            if first is not None:
                delete = reverse(
                    f"admin:{opts.app_label}_{opts.model_name}_delete", args=[first.pk]
                )
                visit(delete, 403)
            form = listed.context["action_form"]
            actions = [name for name, _ in form.fields["action"].choices] if form else []
            if "delete_selected" in actions:
                tour.problems.append(f"{model['admin_url']}: a record offers delete_selected")
    return tour

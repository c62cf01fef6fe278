"""Schemathesis against the published OpenAPI: every operation, for every role, through the gateway
and at each service directly, answers only what its schema says (status, content type, body).

Checks: `not_a_server_error`, `status_code_conformance`, `content_type_conformance`,
`response_schema_conformance`. Phases: coverage and fuzzing per operation, then stateful sequences
that follow the links between operations, run by schemathesis' engine (what its CLI runs; its
pytest plugin does not run under pytest 9), one test per target and role.

`make test` runs it quickly and the same way every time (a fixed seed, FUZZ_EXAMPLES examples per
operation); `make fuzz` runs it longer with a random seed (FUZZ_SEED=random). The fuzzing runs on
a stack of its own, so an admin deleting restaurant 1 never breaks another test's data.
"""

import os
import time
import uuid
from collections import Counter

import psycopg
import pytest
import schemathesis
from schemathesis import engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import events
from schemathesis.engine.statistic import Statistic

from tests.client import PASSWORD, Api
from tests.stack import Stack

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
STEPS = int(os.environ.get("FUZZ_STEPS", "6"))
_seed = os.environ.get("FUZZ_SEED", "20240612")
RANDOM = _seed == "random"
SEED = None if RANDOM else int(_seed)
REQUEST_TIMEOUT = 15

TARGETS = ("gateway", "auth", "catalog", "orders", "payments", "delivery")
ROLES = ("anonymous", "customer", "restaurant_owner", "admin")
RUNS = [(target, role) for target in TARGETS for role in ROLES]

# What ran, for the summary line at the end of the module.
tally: Counter = Counter()
succeeded: set[str] = set()  # operations that answered at least one 2xx


@pytest.fixture(scope="module")
def fuzz_stack(tmp_path_factory, request):
    """A stack of its own: fuzzing as an admin changes and deletes whatever it finds."""
    stack = Stack(
        tmp_path_factory.mktemp("fuzz"),
        catalog_copies=1,
        prefix="food_fuzz",
        # Tokens outlive a long `make fuzz`; an expired token would only test the 401.
        extra_env={"JWT_ACCESS_MINUTES": "120"},
    )
    stack.prepare()
    started = time.monotonic()
    try:
        yield stack.start()
    finally:
        stack.stop()
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        if reporter and capture and tally["runs"]:
            with capture.global_and_fixture_disabled():
                reporter.write_line(
                    f"\nschemathesis: {tally['runs']} runs, {tally['operations']} operations, "
                    f"{tally['cases']} cases, {tally['failures']} failures in "
                    f"{tally['failing operations']} operations; {len(succeeded)} operations "
                    f"answered 2xx; seed {'random' if RANDOM else SEED}, "
                    f"{time.monotonic() - started:.0f} s"
                )


@pytest.fixture(scope="module")
def tokens(fuzz_stack) -> dict[str, str | None]:
    """An access token per role; the admin is a registered user promoted in auth's database."""
    api = Api(fuzz_stack.gateway_url)
    tokens: dict[str, str | None] = {"anonymous": None}
    for role in ("customer", "restaurant_owner"):
        email = f"fuzz-{role}-{uuid.uuid4().hex[:8]}@example.com"
        tokens[role] = api.register_and_login(email, role=role)["access"]
    email = f"fuzz-admin-{uuid.uuid4().hex[:8]}@example.com"
    api.register_and_login(email)
    with psycopg.connect(fuzz_stack.dsn("auth"), autocommit=True) as conn:
        conn.execute("UPDATE accounts_user SET role = 'admin' WHERE email = %s", [email])
    tokens["admin"] = api.post("/auth/login", {"email": email, "password": PASSWORD}).json()[
        "access"
    ]
    _seed_data(api, tokens)
    return tokens


def _seed_data(api: Api, tokens: dict) -> None:
    """Give the fuzzer something to find: a restaurant with a menu, an order with its history.

    A fresh stack numbers them from 1, a value the fuzzer tries, so reads and writes reach them.
    """
    owner, customer = tokens["restaurant_owner"], tokens["customer"]
    restaurant = api.post(
        "/restaurants",
        {
            "name": "Fuzz Diner",
            "cuisine": "greek",
            "address": "1 Test St",
            "is_open": True,
            "lat": 52.52,
            "lon": 13.41,
        },
        token=owner,
    ).json()
    dish = api.post(
        f"/restaurants/{restaurant['id']}/menu",
        {"name": "Moussaka", "category": "main", "price": "12.50", "currency": "EUR"},
        token=owner,
    ).json()
    order = api.post(
        "/orders",
        {
            "restaurant_id": restaurant["id"],
            "items": [{"menu_item_id": dish["id"], "quantity": 1}],
            "delivery_address": "10 Home St",
            "delivery_lat": 52.51,
            "delivery_lon": 13.40,
        },
        token=customer,
    )
    assert order.status == 201, order
    payment = api.post(
        "/payments",
        {"order_id": order.json()["id"], "card_number": "4242424242424242"},
        token=customer,
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert payment.status == 201, payment


def _config(base_url: str, token: str | None) -> SchemathesisConfig:
    """Return the run's configuration: phases, the four checks, the seed, the role's token."""
    data = {
        "base-url": base_url,
        "request-timeout": REQUEST_TIMEOUT,
        "suppress-health-check": ["all"],
        "generation": {"max-examples": EXAMPLES, "deterministic": not RANDOM, "database": "none"},
        "checks": {"enabled": False, **{check: {"enabled": True} for check in CHECKS}},
        "phases": {
            "examples": {"enabled": False},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": STEPS},
        },
    }
    if SEED is not None:
        data["seed"] = SEED
    if token:
        data["headers"] = {"Authorization": f"Bearer {token}"}
    return SchemathesisConfig.from_dict(data)


def _run(schema) -> tuple[Statistic, list[str]]:
    """Run every phase on `schema`; return the statistic (as the CLI counts) and engine errors."""
    statistic, errors = Statistic(), []
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            statistic.on_scenario_finished(event.recorder)
            for case_id, interaction in event.recorder.interactions.items():
                if interaction.response is not None and interaction.response.status_code < 300:
                    succeeded.add(event.recorder.cases[case_id].value.operation.label)
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    return statistic, errors


def _report(statistic: Statistic, config) -> str:
    """Return the failures as the CLI shows them: per operation, each case with its curl."""
    lines = [f"{statistic.total_failures} failures in {len(statistic.failures)} operations"]
    for label, groups in statistic.failures.items():
        lines.append(f"\n___ {label} ___")
        for index, group in enumerate(groups.values(), 1):
            lines.append(group.format(index=index, curl=group.code_sample, config=config))
    return "\n".join(lines)


@pytest.mark.parametrize(("target", "role"), RUNS, ids=[f"{t}-{r}" for t, r in RUNS])
def test_every_operation_answers_what_the_schema_says(fuzz_stack, tokens, target, role):
    # Given the OpenAPI document `target` publishes, and `role`'s token (none: anonymous)
    base_url = fuzz_stack.url(target)
    schema = schemathesis.openapi.from_url(
        f"{base_url}/schema",
        config=_config(base_url, tokens[role]),
        headers={"Accept": "application/vnd.oai.openapi+json"},
        timeout=REQUEST_TIMEOUT,
    )
    # When schemathesis runs its coverage, fuzzing and stateful phases at `target`
    statistic, errors = _run(schema)
    tally["runs"] += 1
    tally["operations"] += len(statistic.tested_operations | statistic.errored_operations)
    tally["cases"] += statistic.total_cases
    tally["failures"] += statistic.total_failures
    tally["failing operations"] += len(statistic.failures)
    # Then every answer is one the schema documents: status, content type and body
    assert statistic.tested_operations, "no operation was tested"
    assert not errors, "\n".join(errors)
    assert not statistic.failures, _report(statistic, schema.config.output)

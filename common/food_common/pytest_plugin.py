"""pytest plugin for the services' own tests: sign tokens with a test key and call the API as a role.

Enable with `-p food_common.pytest_plugin` (each project's pytest.ini does). Importing it sets
DEBUG=1 unless DEBUG is set: the settings' local defaults (SECRET_KEY, the local signing key) are
refused with DEBUG off, which is the default. `-p` plugins are imported before pytest-django loads
the settings, so a plain `pytest` in a project folder works.

Every event of the contract has a producer test and a consumer test. A test that makes this
project publish an event is marked `@pytest.mark.produces("order.created")`, one that makes a
handler of its own app's queue handle one `@pytest.mark.consumes("payment.succeeded")`:

- a marked test fails unless it did what its mark says (an outbox row of that type, written
  while it ran, or an inbox entry of a handler of its app's queue for that type), and every
  outbox row it wrote must be an envelope the contract allows;
- a run of the whole suite (`pytest` with the ini's testpaths, as `make unit` runs it) fails
  when an event this project produces (the contract's x-producer is its SERVICE_NAME) or
  consumes (on one of its queues, `local_queues()`) has no marked test; a targeted run (paths
  on the command line) skips that check.
"""

import itertools
import os
import uuid
from contextlib import contextmanager

import pytest

os.environ.setdefault("DEBUG", "1")
# Live pushes (food_common.live) travel by Redis pub/sub, which ignores database numbers: every
# test run gets channel names of its own, so runs sharing a Redis server never hear each other.
os.environ.setdefault("LIVE_CHANNEL_PREFIX", f"test-live-{uuid.uuid4().hex[:8]}")


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "produces(event_type): the test makes this project publish event_type (checked, and its "
        "outbox rows validated against the event contract)",
    )
    config.addinivalue_line(
        "markers",
        "consumes(event_type): the test makes a handler of its app's queue handle event_type "
        "(checked)",
    )


@pytest.fixture(autouse=True)
def _test_signing_key(settings):
    """Verify tokens against the test key instead of fetching the auth service's JWKS."""
    from food_common.tokens import get_verifier

    settings.JWT_KEY_RESOLVER = "food_common.testing.test_public_key_for_kid"
    get_verifier.cache_clear()
    yield
    get_verifier.cache_clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Superusers of admin tests get a fast hasher (the default one is slow on purpose)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api_client():
    """Return a DRF APIClient; `api_client_as(...)` gives one that sends a token."""
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def api_client_as():
    """Return a factory: `api_client_as(user_id, role)` → an APIClient authenticated as that caller."""
    from rest_framework.test import APIClient

    from food_common.testing import make_access_token

    def build(user_id: int = 1, role: str = "customer", **claims):
        client = APIClient()
        client.credentials(
            HTTP_AUTHORIZATION=f"Bearer {make_access_token(user_id, role=role, **claims)}"
        )
        client.user_id = user_id
        return client

    return build


@pytest.fixture
def no_relay(monkeypatch):
    """Keep committed events in the outbox instead of sending them to the shared broker; return
    the list of the events the commits would have relayed."""
    sent = []

    def relay(event):
        sent.append(event)
        return True

    monkeypatch.setattr("food_common.events.bus.relay", relay)
    return sent


# The callers of every project's tests, with the ids of food_common.testing: `customer`,
# `other_customer`, `owner`, `other_owner`, `admin`. A project overrides one by defining a fixture
# of the same name in its conftest.
def _caller(name: str, user_id_name: str, role_name: str):
    def client_as(api_client_as):
        from food_common import authentication, testing

        return api_client_as(getattr(testing, user_id_name), getattr(authentication, role_name))

    return pytest.fixture(name=name)(client_as)


customer = _caller("customer", "CUSTOMER", "ROLE_CUSTOMER")
other_customer = _caller("other_customer", "OTHER_CUSTOMER", "ROLE_CUSTOMER")
owner = _caller("owner", "OWNER", "ROLE_RESTAURANT_OWNER")
other_owner = _caller("other_owner", "OTHER_OWNER", "ROLE_RESTAURANT_OWNER")
admin = _caller("admin", "ADMIN", "ROLE_ADMIN")


_cache_run = f"test-{uuid.uuid4().hex[:8]}"
_cache_tests = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """Give each test its own key prefix in the shared Redis, and delete its keys afterwards."""
    from django.core.cache import caches

    prefix = f"{settings.SERVICE_NAME}-{_cache_run}-{next(_cache_tests)}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    test_cache = caches["default"]
    yield
    try:
        test_cache.delete_pattern("*")  # only this test's keys: the pattern carries the prefix
    except Exception:  # noqa: BLE001, S110 - a test that broke Redis on purpose
        pass


# -- every event of the contract has a producer test and a consumer test ---------------------

_coverage_problems = pytest.StashKey[list[str]]()


def _events_installed() -> bool:
    from django.apps import apps

    return apps.is_installed("food_common.events")


def _marked(item, name: str) -> list[str]:
    return [event_type for mark in item.iter_markers(name) for event_type in mark.args]


def _queue_of(item) -> str:
    """Return the event queue of the app the test module belongs to ("" if none)."""
    from django.apps import apps

    module = getattr(item, "module", None)
    config = apps.get_containing_app_config(module.__name__) if module else None
    return getattr(config, "event_queue", "")


def mark_problems(contract, service: str, event_type: str, mark: str, queue: str) -> list[str]:
    """Return why a `mark`(event_type) of a test whose app's queue is `queue` is wrong."""
    spec = contract.events.get(event_type)
    if spec is None:
        return [f"{mark}({event_type!r}): not an event of the contract"]
    if mark == "produces" and spec.producer != service:
        return [f"produces({event_type!r}): the contract's producer is {spec.producer!r}"]
    if mark == "consumes" and queue not in spec.consumers:
        return [f"consumes({event_type!r}): the test's app queue {queue!r} is not a consumer"]
    return []


def missing_event_tests(contract, service: str, queues, marks) -> list[str]:
    """Return the events this project produces or consumes that no marked test covers.

    `marks` holds ("produces", type, queue) and ("consumes", type, queue) of the collected tests.
    """
    produced = contract.produced_by(service)
    consumed = contract.consumed_on(set(queues))
    if not produced and not consumed:
        return [
            f"the contract lists no event that {service!r} produces or that its queues "
            f"{sorted(queues)} consume: check SERVICE_NAME and the apps' event_queue"
        ]
    covered_produced = {t for mark, t, _ in marks if mark == "produces"}
    covered_consumed = {(t, q) for mark, t, q in marks if mark == "consumes"}
    missing = [
        f"{t}: no test marked @pytest.mark.produces({t!r})"
        for t in produced
        if t not in covered_produced
    ]
    missing += [
        f"{t} on queue {q!r}: no test of that app marked @pytest.mark.consumes({t!r})"
        for t, q in sorted(consumed - covered_consumed)
    ]
    return missing


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect: the whole suite counts
def pytest_collection_modifyitems(session, config, items):
    if not _events_installed():
        return
    from django.conf import settings

    from food_common.events.contract import get_contract
    from food_common.events.queues import local_queues

    contract = get_contract()
    problems, marks = [], set()
    for item in items:
        queue = _queue_of(item)
        for mark in ("produces", "consumes"):
            for event_type in _marked(item, mark):
                wrong = mark_problems(contract, settings.SERVICE_NAME, event_type, mark, queue)
                problems += [f"{item.nodeid}: {why}" for why in wrong]
                marks.add((mark, event_type, queue))
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS:
        problems += missing_event_tests(contract, settings.SERVICE_NAME, local_queues(), marks)
    config.stash[_coverage_problems] = problems


def pytest_sessionfinish(session, exitstatus):
    if session.config.stash.get(_coverage_problems, None) and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    problems = config.stash.get(_coverage_problems, None)
    if problems:
        terminalreporter.section("event contract: producer and consumer tests", red=True)
        for problem in problems:
            terminalreporter.line(problem, red=True)


@contextmanager
def _recording_events():
    """Collect the outbox rows and inbox entries written meanwhile (in any thread)."""
    from django.db.models.signals import post_save

    from food_common.events.models import InboxEntry, OutboxEvent

    seen = {"outbox": [], "inbox": []}

    def outbox(sender, instance, created, **kwargs):
        if created:
            seen["outbox"].append(instance.envelope())

    def inbox(sender, instance, created, **kwargs):
        if created:
            seen["inbox"].append((instance.event_type, instance.handler))

    post_save.connect(outbox, sender=OutboxEvent, weak=False)
    post_save.connect(inbox, sender=InboxEntry, weak=False)
    try:
        yield seen
    finally:
        post_save.disconnect(outbox, sender=OutboxEvent)
        post_save.disconnect(inbox, sender=InboxEntry)


def marked_test_failures(contract, produces, consumes, queue, seen) -> list[str]:
    """Return why a test marked `produces`/`consumes` did not do what its marks say."""
    from food_common.events.bus import handlers_for
    from food_common.events.contract import ContractViolation

    failures = []
    for each in seen["outbox"]:
        try:
            contract.validate_envelope(each)
        except ContractViolation as exc:
            failures.append(f"it published {each['type']} {each['id']}: {exc}")
    published = {each["type"] for each in seen["outbox"]}
    failures += [
        f"marked produces({t!r}) but published no {t}" for t in produces if t not in published
    ]
    for event_type in consumes:
        names = {h.name for h in handlers_for(event_type, queue)}
        if not any(t == event_type and name in names for t, name in seen["inbox"]):
            failures.append(
                f"marked consumes({event_type!r}) but no handler of queue {queue!r} handled one"
            )
    return failures


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    produces, consumes = _marked(item, "produces"), _marked(item, "consumes")
    if not (produces or consumes):
        return (yield)
    from food_common.events.contract import get_contract

    with _recording_events() as seen:
        result = yield
    failures = marked_test_failures(get_contract(), produces, consumes, _queue_of(item), seen)
    if failures:
        raise AssertionError("event contract: " + "; ".join(failures))
    return result

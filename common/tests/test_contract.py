"""The event contract: loading it, publishing against it, handlers checked with it, its page."""

import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import transaction

from food_common import pytest_plugin
from food_common.events import bus, contract, signing
from food_common.events.checks import check_handlers_match_the_contract
from food_common.events.contract import Contract, ContractError, ContractViolation, get_contract
from food_common.events.models import OutboxEvent
from food_common.testing import envelope, published

COMMON = Path(__file__).resolve().parents[1]
REPO = COMMON.parent
TEST_CONTRACT = Path(__file__).with_name("contract.yaml")


def test_document() -> dict:
    return yaml.safe_load(TEST_CONTRACT.read_text())


test_document.__test__ = False


# -- reading the contract ----------------------------------------------------------------------


def test_the_contract_gives_each_event_its_version_producer_and_consumers():
    events = get_contract().events
    assert list(events) == ["test.happened", "nobody.listens"]
    happened, nobody = events["test.happened"], events["nobody.listens"]
    assert (happened.version, happened.producer, happened.consumers) == (1, "common", ("test-q",))
    assert (nobody.version, nobody.producer, nobody.consumers) == (2, "common", ())
    assert get_contract().consumers_of("made.up") == ()
    assert get_contract() is get_contract()  # read once


def test_the_data_schema_is_checked_with_its_references_resolved():
    spec = get_contract().event("test.happened")
    spec.validate({"text": "hi", "amount": "12.50"})
    spec.validate({})
    assert spec.errors({"text": 5, "amount": "12.5", "extra": 1}) == [
        "(data): Additional properties are not allowed ('extra' was unexpected)",
        "amount: '12.5' does not match '^[0-9]+\\\\.[0-9]{2}$'",
        "text: 5 is not of type 'string'",
    ]
    with pytest.raises(ContractViolation, match=r"test.happened v1 data breaks the contract"):
        spec.validate({"text": 5})
    with pytest.raises(ContractViolation, match="'made.up' is not an event of the contract"):
        get_contract().validate("made.up", {})


def _without(node: dict, *path):
    *parents, last = path
    for key in parents:
        node = node[key]
    del node[last]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda d: d.update(asyncapi="2.6.0"), "not an AsyncAPI 3 document"),
        (
            lambda d: _without(d, "operations", "test.happened.send", "x-producer"),
            "x-producer must be a non-empty string",
        ),
        (
            lambda d: _without(d, "operations", "nobody.listens.send"),
            "one send operation (x-producer) expected",
        ),
        (
            lambda d: _without(d, "operations", "test.happened.test-q", "x-consumer"),
            "x-consumer must be a non-empty string",
        ),
        (
            lambda d: d["operations"].update(
                again={**d["operations"]["test.happened.test-q"], "summary": "twice"}
            ),
            "queue 'test-q' receives test.happened twice",
        ),
        (
            lambda d: _without(d, "components", "messages", "test.happened", "x-version"),
            "the message needs an integer x-version",
        ),
        (
            lambda d: d["components"]["messages"]["test.happened"]["payload"]["allOf"].pop(0),
            "the payload must be allOf the Envelope and its data",
        ),
        (
            lambda d: d["channels"]["test.happened"]["messages"].update(
                other={"$ref": "#/components/messages/nobody.listens"}
            ),
            "one message expected",
        ),
        (
            lambda d: _without(d, "components", "schemas", "Amount"),
            "$ref '#/components/schemas/Amount' points to nothing",
        ),
        (
            lambda d: d["operations"]["test.happened.send"].update(
                channel={"$ref": "#/channels/elsewhere"}
            ),
            "operation test.happened.send names no channel of the document",
        ),
    ],
    ids=[
        "asyncapi-2",
        "no-producer",
        "no-send",
        "no-consumer",
        "queue-twice",
        "no-version",
        "no-envelope",
        "two-messages",
        "dangling-ref",
        "unknown-channel",
    ],
)
def test_a_document_that_breaks_the_conventions_is_refused(change, error):
    document = test_document()
    change(document)
    with pytest.raises(ContractError) as raised:
        Contract(document, source="broken.yaml")
    assert error in str(raised.value)


def test_a_contract_that_cannot_be_read_is_a_contract_error(tmp_path):
    with pytest.raises(ContractError, match="cannot be read"):
        contract.load(str(tmp_path / "missing.yaml"))
    (tmp_path / "bad.yaml").write_text("asyncapi: [")
    with pytest.raises(ContractError, match="cannot be read"):
        contract.load(str(tmp_path / "bad.yaml"))


# -- publishing against it ---------------------------------------------------------------------


@pytest.mark.produces("test.happened")
@pytest.mark.django_db
def test_publish_takes_the_version_from_the_contract_and_checks_the_data(settings):
    settings.EVENT_CONTRACT_VALIDATE = True
    with transaction.atomic():
        publish_ok = bus.publish("test.happened", {"text": "fine"})
        with pytest.raises(ContractViolation, match=r"text: 5 is not of type 'string'"):
            bus.publish("test.happened", {"text": 5})
        with pytest.raises(ContractViolation, match="'surprise' was unexpected"):
            bus.publish("test.happened", {"surprise": True})
        with pytest.raises(ContractViolation, match="'made.up' is not an event of the contract"):
            bus.publish("made.up", {})
    assert list(OutboxEvent.objects.values_list("id", "version")) == [(publish_ok.id, 1)]
    assert [e["data"] for e in published("test.happened")] == [{"text": "fine"}]


@pytest.mark.django_db
def test_only_the_producer_of_an_event_may_publish_it(settings):
    settings.SERVICE_NAME = "another"
    with pytest.raises(ContractViolation, match="produced by 'common' in the contract"):
        with transaction.atomic():
            bus.publish("test.happened", {"text": "mine?"})
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db
def test_without_validation_only_the_type_and_producer_are_checked(settings):
    settings.EVENT_CONTRACT_VALIDATE = False
    with transaction.atomic():
        bus.publish("test.happened", {"text": 5})
        with pytest.raises(ContractViolation):
            bus.publish("made.up", {})
    assert OutboxEvent.objects.get().data == {"text": 5}
    with pytest.raises(ContractViolation, match="text: 5 is not of type 'string'"):
        published()


def test_validation_is_on_in_the_tests_and_off_by_default_without_debug(monkeypatch):
    from django.conf import settings

    assert settings.EVENT_CONTRACT_VALIDATE is True  # DEBUG=1 in every project's tests
    monkeypatch.setenv("DEBUG", "0")
    monkeypatch.setenv("SECRET_KEY", "s" * 50)
    monkeypatch.delenv("EVENT_CONTRACT_VALIDATE", raising=False)
    code = "from food_common import settings_base as s; print(s.EVENT_CONTRACT_VALIDATE)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


# -- the envelope test builder ----------------------------------------------------------------


def test_the_envelope_builder_signs_what_the_contract_describes(settings):
    built = envelope("nobody.listens", {"text": "x"}, request_id="r-1")
    assert (built["type"], built["version"], built["producer"]) == ("nobody.listens", 2, "common")
    assert built["request_id"] == "r-1" and built["data"] == {"text": "x"}
    assert signing.rejection(built) is None
    with pytest.raises(ContractViolation, match="'oops' was unexpected"):
        envelope("nobody.listens", {"oops": 1})
    with pytest.raises(ContractViolation, match="producer 'forger', the contract says 'common'"):
        envelope("nobody.listens", {}, producer="forger")
    malformed = envelope("nobody.listens", {"oops": 1}, validate=False)
    assert signing.rejection(malformed) is None  # signed all the same


# -- handlers against the contract -------------------------------------------------------------


def test_a_handler_takes_its_queue_from_its_app(monkeypatch):
    monkeypatch.setitem(bus._handlers, ("nobody.listens", "test-q"), [])

    def on_nobody(event):
        pass

    bus.handles("nobody.listens")(on_nobody)  # defined in the tests app, whose queue is test-q
    assert [h.name for h in bus.handlers_for("nobody.listens", "test-q")] == [
        "tests.test_contract.test_a_handler_takes_its_queue_from_its_app.<locals>.on_nobody"
    ]


def test_a_handler_outside_an_app_with_an_event_queue_is_refused():
    def stray(event):
        pass

    stray.__module__ = "food_common.testing"  # the app food_common consumes nothing
    with pytest.raises(ImproperlyConfigured, match=r"its app \(food_common\) names no event_queue"):
        bus.handles("test.happened")(stray)


def test_the_projects_handlers_match_the_contract():
    assert check_handlers_match_the_contract() == []
    call_command("check")


def test_a_handler_of_an_event_the_contract_does_not_send_its_queue_fails_the_check(monkeypatch):
    extra = bus.Handler("tests.handlers.extra", "nobody.listens", "test-q", lambda event: None)
    monkeypatch.setitem(bus._handlers, ("nobody.listens", "test-q"), [extra])

    (error,) = check_handlers_match_the_contract()

    assert error.id == "events.E002"
    assert error.msg == (
        "tests.handlers.extra handles nobody.listens on queue 'test-q', but the event contract "
        "does not list 'test-q' as a consumer of nobody.listens"
    )
    with pytest.raises(SystemCheckError, match="events.E002"):
        call_command("check")


def test_a_consumer_queue_of_this_project_without_a_handler_fails_the_check(monkeypatch):
    monkeypatch.setitem(bus._handlers, ("test.happened", "test-q"), [])

    (error,) = check_handlers_match_the_contract()

    assert error.id == "events.E003"
    assert error.msg == (
        "the event contract lists queue 'test-q' (an app of this project) as a consumer of "
        "test.happened, but no handler of it is registered"
    )
    with pytest.raises(SystemCheckError, match="events.E003"):
        call_command("check")


def test_consumer_queues_of_other_projects_need_no_handler_here(monkeypatch):
    events = get_contract().events
    spec = events["nobody.listens"]
    monkeypatch.setitem(events, "nobody.listens", replace(spec, consumers=("elsewhere",)))
    assert check_handlers_match_the_contract() == []


def test_a_contract_that_cannot_be_read_fails_the_check(settings, tmp_path):
    settings.EVENT_CONTRACT_FILE = str(tmp_path / "missing.yaml")
    (error,) = check_handlers_match_the_contract()
    assert error.id == "events.E001" and "cannot be read" in error.msg


# -- the repository's contract and its page ----------------------------------------------------


def test_docs_events_md_is_rendered_from_the_contract():
    """Fails when contracts/asyncapi.yaml changed and docs/events.md was not rendered again."""
    source = "contracts/asyncapi.yaml"
    page = contract.render_markdown(contract.load(str(REPO / source)), source_name=source)
    assert (REPO / "docs" / "events.md").read_text(encoding="utf-8") == page, (
        "docs/events.md is out of date: run `python -m food_common.events.contract "
        "contracts/asyncapi.yaml --write docs/events.md` at the top of the repository"
    )


def test_the_render_command_checks_and_writes_the_page(tmp_path, capsys):
    target = tmp_path / "events.md"
    assert contract.main([str(TEST_CONTRACT), "--write", str(target), "--check"]) == 1
    assert contract.main([str(TEST_CONTRACT), "--write", str(target)]) == 0
    assert contract.main([str(TEST_CONTRACT), "--write", str(target), "--check"]) == 0
    page = target.read_text()
    assert "| [`nobody.listens`](#nobodylistens) | 2 | common | none |" in page
    assert "| `amount` | string (`^[0-9]+\\.[0-9]{2}$`) | no |" in page
    assert contract.main([str(tmp_path / "missing.yaml")]) == 1
    assert "invalid contract" in capsys.readouterr().err


def test_every_event_of_the_repository_contract_has_a_producer_and_a_schema():
    events = contract.load(str(REPO / "contracts" / "asyncapi.yaml")).events
    assert events
    for spec in events.values():
        assert spec.producer and spec.description, spec.type
        assert spec.schema["additionalProperties"] is False, spec.type
        assert set(spec.schema["required"]) == set(spec.schema["properties"]), spec.type


# -- producer and consumer tests (food_common.pytest_plugin) -----------------------------------


def test_every_event_needs_a_marked_producer_and_consumer_test():
    events = get_contract()
    all_marks = {
        ("produces", "test.happened", "test-q"),
        ("produces", "nobody.listens", "test-q"),
        ("consumes", "test.happened", "test-q"),
    }
    assert pytest_plugin.missing_event_tests(events, "common", ("test-q",), all_marks) == []
    assert pytest_plugin.missing_event_tests(events, "common", ("test-q",), set()) == [
        "test.happened: no test marked @pytest.mark.produces('test.happened')",
        "nobody.listens: no test marked @pytest.mark.produces('nobody.listens')",
        "test.happened on queue 'test-q': no test of that app marked "
        "@pytest.mark.consumes('test.happened')",
    ]
    # A project the contract gives no event is a mistake (SERVICE_NAME, event_queue), not a pass.
    (vacuous,) = pytest_plugin.missing_event_tests(events, "nobody", (), all_marks)
    assert "lists no event that 'nobody' produces" in vacuous


def test_a_wrong_mark_is_reported():
    events = get_contract()
    assert pytest_plugin.mark_problems(events, "common", "made.up", "produces", "test-q") == [
        "produces('made.up'): not an event of the contract"
    ]
    assert pytest_plugin.mark_problems(events, "other", "test.happened", "produces", "") == [
        "produces('test.happened'): the contract's producer is 'common'"
    ]
    assert pytest_plugin.mark_problems(events, "common", "nobody.listens", "consumes", "x") == [
        "consumes('nobody.listens'): the test's app queue 'x' is not a consumer"
    ]


def test_a_marked_test_must_do_what_its_mark_says():
    events = get_contract()
    good = envelope("test.happened", {"text": "x"})
    handled = [("test.happened", "tests.handlers.remember")]
    seen = {"outbox": [good], "inbox": handled}
    failures = pytest_plugin.marked_test_failures
    assert failures(events, ["test.happened"], ["test.happened"], "test-q", seen) == []
    assert failures(events, ["nobody.listens"], [], "test-q", seen) == [
        "marked produces('nobody.listens') but published no nobody.listens"
    ]
    assert failures(events, [], ["test.happened"], "test-q", {"outbox": [], "inbox": []}) == [
        "marked consumes('test.happened') but no handler of queue 'test-q' handled one"
    ]
    bad = envelope("test.happened", {"text": 5}, validate=False)
    (failure,) = failures(events, ["test.happened"], [], "test-q", {"outbox": [bad], "inbox": []})
    assert failure.startswith(f"it published test.happened {bad['id']}: ")
    assert "text: 5 is not of type 'string'" in failure


def _run_pytest(tmp_path, tests: str, *args: str) -> subprocess.CompletedProcess:
    """Run a pytest session of `tests` with the plugin and these tests' settings."""
    (tmp_path / "pytest.ini").write_text(
        textwrap.dedent(
            f"""\
            [pytest]
            DJANGO_SETTINGS_MODULE = tests.settings
            pythonpath = {COMMON}
            addopts = -p food_common.pytest_plugin -p no:cacheprovider -q
            testpaths = suite
            """
        )
    )
    (tmp_path / "suite").mkdir(exist_ok=True)
    (tmp_path / "suite" / "test_suite.py").write_text(textwrap.dedent(tests))
    return subprocess.run(
        [sys.executable, "-m", "pytest", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(COMMON)},
        timeout=120,
    )


def test_a_whole_suite_without_producer_and_consumer_tests_fails_though_its_tests_pass(tmp_path):
    suite = """\
        import pytest

        def test_something():
            pass

        @pytest.mark.produces("test.happened")
        def test_marked_but_publishing_nothing():
            pass
        """
    whole = _run_pytest(tmp_path, suite)
    assert whole.returncode == 1, whole.stdout
    assert "1 failed, 1 passed" in whole.stdout
    assert "marked produces('test.happened') but published no test.happened" in whole.stdout
    assert "event contract: producer and consumer tests" in whole.stdout
    assert "nobody.listens: no test marked @pytest.mark.produces('nobody.listens')" in whole.stdout
    assert "test.happened: no test marked" not in whole.stdout  # it has one (that failed)

    # A targeted run (a path given) checks the marked tests it runs, not the suite's coverage.
    targeted = _run_pytest(tmp_path, suite, "suite/test_suite.py", "-k", "something")
    assert targeted.returncode == 0, targeted.stdout
    assert "event contract" not in targeted.stdout

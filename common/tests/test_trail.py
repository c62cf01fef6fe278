"""A subject's trail: each service's part of it, served over a signed internal path, and the merge."""

import json
import time
import uuid
from dataclasses import replace

import pytest
from django.db import transaction
from django.urls import path

from food_common.events import signing
from food_common.events.bus import dispatch, handle_task_id, publish
from food_common.events.contract import get_contract
from food_common.events.models import DeadLetter, InboxEntry, OutboxEvent
from food_common.events.trail import (
    TrailPartView,
    event_ids_about,
    event_records,
    merge,
    part_from_peer,
)
from food_common.http import ServiceClient, ServiceResponse, UpstreamBadAnswer
from food_common.testing import envelope
from food_common.urls import admin_page, common_urlpatterns
from tests.test_events import queued_messages

HANDLER = "tests.handlers.remember"


class NoteTrailView(TrailPartView):
    """A service's part of the trail of the notes whose text is `text` (the test's subject)."""

    def part(self, *, event_ids, text: str) -> dict:
        part = event_records(key="text", value=text, other_event_ids=event_ids)
        part["records"].append({"at": "2030-01-01T00:00:00+00:00", "what": "a record of its own"})
        part["notes"] = [text]
        return part


# The URLs of the tests marked `pytest.mark.urls(__name__)`: the test app's, plus a trail part.
urlpatterns = [
    path("internal/notes/<str:text>/trail", NoteTrailView.as_view()),
    *common_urlpatterns("common"),
]


def published(text: str, request_id: str = "req-1") -> OutboxEvent:
    with transaction.atomic():
        event = publish("test.happened", {"text": text})
    OutboxEvent.objects.filter(pk=event.pk).update(request_id=request_id)
    event.refresh_from_db()
    return event


# -- signed requests between services ---------------------------------------------------------


def test_a_signed_request_passes_for_its_method_and_path_only(settings):
    headers = signing.signed_request_headers("GET", "/internal/x?event=1")
    signature = headers[signing.REQUEST_SIGNATURE_HEADER]

    assert signing.request_rejection("GET", "/internal/x?event=1", signature) is None
    assert signing.request_rejection("GET", "/internal/x?event=2", signature) == (
        signing.REQUEST_BAD_SIGNATURE
    )
    assert signing.request_rejection("POST", "/internal/x?event=1", signature) == (
        signing.REQUEST_BAD_SIGNATURE
    )
    assert signing.request_rejection("GET", "/internal/x?event=1", None) == (
        signing.REQUEST_UNSIGNED
    )
    assert signing.request_rejection("GET", "/x", "not-a-time:abc") == signing.REQUEST_BAD_SIGNATURE
    # Another deployment's key refuses it; during a rotation the previous key still verifies.
    old_key, settings.EVENT_SIGNING_KEY = settings.EVENT_SIGNING_KEY, "another-deployment-key"
    assert signing.request_rejection("GET", "/internal/x?event=1", signature) == (
        signing.REQUEST_BAD_SIGNATURE
    )
    settings.EVENT_SIGNING_KEY_PREVIOUS = old_key
    assert signing.request_rejection("GET", "/internal/x?event=1", signature) is None


def test_a_signed_request_expires_after_a_minute(settings):
    old = int(time.time()) - signing.REQUEST_MAX_AGE_SECONDS - 5
    signature = signing.request_signature("GET", "/p", old, settings.EVENT_SIGNING_KEY)

    assert signing.request_rejection("GET", "/p", f"{old}:{signature}") == signing.REQUEST_EXPIRED


def test_a_request_signature_is_no_event_signature(settings):
    """What is signed differs: a request's signature never verifies an envelope, and back."""
    event = envelope("test.happened", {"text": "x"})
    now = int(time.time())
    request_signature = signing.request_signature("GET", "/p", now, settings.EVENT_SIGNING_KEY)

    assert signing.rejection({**event, "signature": request_signature}) == signing.BAD_SIGNATURE
    header = f"{now}:{event['signature']}"
    assert signing.request_rejection("GET", "/p", header) == signing.REQUEST_BAD_SIGNATURE


# -- a service's part ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_part_has_the_events_published_handled_and_dead_lettered_about_its_subject(
    no_relay, handler_state
):
    # Given two events about "soup", one about "cake", and an event of another service about soup
    first, second = published("soup", "req-1"), published("soup", "req-2")
    published("cake")
    elsewhere = envelope("test.happened", {"text": "soup"}, request_id="req-3")
    # ...the first and the other service's handled here, the second dead-lettered
    dispatch(first.envelope(), "test-q")
    dispatch(elsewhere, "test-q")
    letter = DeadLetter.objects.create(
        event_id=second.id,
        event_type=second.type,
        handler=HANDLER,
        queue="test-q",
        envelope=second.envelope(),
        error="RuntimeError: broken",
        attempts=6,
    )

    part = event_records(key="text", value="soup", other_event_ids=[elsewhere["id"]])

    assert part["service"] == "common"
    assert [(e["id"], e["type"], e["request_id"]) for e in part["published"]] == [
        (str(first.id), "test.happened", "req-1"),
        (str(second.id), "test.happened", "req-2"),
    ]
    assert part["published"][0]["url"] == admin_page("common", "events.outboxevent", first.id)
    assert [(h["event_id"], h["handler"], h["queue"]) for h in part["handled"]] == [
        (str(first.id), HANDLER, "test-q"),
        (elsewhere["id"], HANDLER, "test-q"),
    ]
    (dead,) = part["dead_letters"]
    assert (dead["id"], dead["request_id"], dead["attempts"]) == (letter.pk, "req-2", 6)
    assert dead["url"] == admin_page("common", "events.deadletter", letter.pk)
    assert (part["records"], part["problems"]) == ([], [])
    assert event_ids_about(key="text", value="soup") == [str(first.id), str(second.id)]


@pytest.mark.django_db
def test_a_dead_letter_is_found_by_its_data_when_no_id_names_it():
    """A forged envelope about the subject, rejected before any handler: no event has its id."""
    forged = envelope("test.happened", {"text": "soup"}, signature="0" * 64)
    DeadLetter.objects.create(
        event_id=forged["id"],
        event_type=forged["type"],
        handler="(rejected: not signed by its producer)",
        queue="test-q",
        envelope=forged,
        error=signing.BAD_SIGNATURE,
        attempts=1,
    )

    part = event_records(key="text", value="soup")

    assert [d["event_id"] for d in part["dead_letters"]] == [forged["id"]]


@pytest.mark.urls(__name__)
@pytest.mark.django_db
def test_the_internal_path_answers_a_signed_request_only(client, no_relay):
    event = published("soup")
    other = str(uuid.uuid4())
    url = f"/internal/notes/soup/trail?event={other}"

    signed = client.get(url, headers=signing.signed_request_headers("GET", url))
    unsigned = client.get(url)
    for_another_path = client.get(
        "/internal/notes/cake/trail", headers=signing.signed_request_headers("GET", url)
    )
    bad_id = "/internal/notes/soup/trail?event=nope"
    malformed = client.get(bad_id, headers=signing.signed_request_headers("GET", bad_id))

    assert signed.status_code == 200
    part = signed.json()
    assert [e["id"] for e in part["published"]] == [str(event.id)]
    assert (part["notes"], part["records"][0]["what"]) == (["soup"], "a record of its own")
    assert unsigned.status_code == for_another_path.status_code == 403
    assert signing.REQUEST_UNSIGNED in unsigned.json()["detail"]
    assert signing.REQUEST_BAD_SIGNATURE in for_another_path.json()["detail"]
    assert malformed.status_code == 400
    assert "event" in malformed.json()["errors"]


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_a_peer_asks_for_a_part_with_a_signed_request(live_server, no_relay):
    event = published("soup")
    other = uuid.uuid4()
    peer = ServiceClient("notes", [live_server.url])

    part = part_from_peer(peer, "/internal/notes/soup/trail", event_ids=[other])

    assert part["service"] == "common"
    assert [e["id"] for e in part["published"]] == [str(event.id)]
    with pytest.raises(UpstreamBadAnswer):
        part_from_peer(peer, "/health")  # an answer, but no part


class Answering:
    """A stand-in ServiceClient that answers `body` (JSON) to any request."""

    name = "notes"

    def __init__(self, body):
        self.body = body

    def request(self, method, path, **kwargs):
        return ServiceResponse("notes", 200, json.dumps(self.body).encode(), {})


@pytest.mark.parametrize(
    "change",
    [
        {"service": None},
        {"published": [{"type": "test.happened"}]},  # a row without its fields
        {"handled": "none"},
        {"problems": [{"not": "a sentence"}]},
    ],
)
def test_an_answer_that_is_not_a_part_is_a_bad_answer(change):
    good = {"service": "notes", "published": [], "handled": [], "dead_letters": [],
            "records": [], "problems": []}  # fmt: skip
    assert part_from_peer(Answering(good), "/p") == good

    with pytest.raises(UpstreamBadAnswer):
        part_from_peer(Answering({**good, **change}), "/p")


# -- the merge ---------------------------------------------------------------------------------


def row(event_id, event_type, at, *, request_id="req-1", sent=True, attempts=1, error=""):
    return {
        "id": event_id,
        "type": event_type,
        "producer": "common",
        "occurred_at": at,
        "request_id": request_id,
        "sent_at": at if sent else None,
        "send_attempts": attempts,
        "last_error": error,
        "url": f"/admin/x/{event_id}",
    }


def handled(event_id, event_type, at, queue, handler=HANDLER):
    return {
        "event_id": event_id,
        "event_type": event_type,
        "handler": handler,
        "queue": queue,
        "handled_at": at,
        "url": "",
    }


def part(service, published=(), handled_rows=(), dead=(), records=(), problems=(), **own):
    return {
        "service": service,
        "published": list(published),
        "handled": list(handled_rows),
        "dead_letters": list(dead),
        "records": list(records),
        "problems": list(problems),
        **own,
    }


@pytest.fixture
def two_consumers(monkeypatch):
    """The contract sends test.happened to two queues, "test-q" and "other-q"."""
    events = get_contract().events
    monkeypatch.setitem(
        events, "test.happened", replace(events["test.happened"], consumers=("test-q", "other-q"))
    )


def test_the_merge_lists_every_event_in_time_order_with_its_consumers(two_consumers):
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    here = part(
        "one",
        published=[row(a, "test.happened", "2030-01-01T10:00:00+00:00")],
        handled_rows=[handled(b, "test.happened", "2030-01-01T10:00:02.5+00:00", "test-q")],
        records=[{"at": "2030-01-01T10:00:01+00:00", "what": "a note", "detail": "d"}],
    )
    there = part(
        "two",
        published=[
            row(b, "test.happened", "2030-01-01T10:00:02+00:00", request_id="req-2"),
            row(c, "nobody.listens", "2030-01-01T09:59:59+00:00", request_id="req-2"),
        ],
        handled_rows=[
            handled(a, "test.happened", "2030-01-01T10:00:00.3+00:00", "test-q"),
            handled(a, "test.happened", "2030-01-01T10:00:00.4+00:00", "other-q", "x.other"),
        ],
    )

    trail = merge([here, there])

    assert [(e["type"], e["service"]) for e in trail["events"]] == [
        ("nobody.listens", "two"),
        ("test.happened", "one"),
        ("test.happened", "two"),
    ]
    first = trail["events"][1]
    assert [
        (c["queue"], c["state"], [h["service"] for h in c["handled"]]) for c in first["consumers"]
    ] == [
        ("test-q", "handled", ["two"]),
        ("other-q", "handled", ["two"]),
    ]
    assert first["consumers"][0]["task_id"] == handle_task_id(a, "test-q")
    assert first["consumers"][0]["flower_url"] == f"/flower/task/{handle_task_id(a, 'test-q')}"
    third = trail["events"][2]
    assert [(c["queue"], c["state"]) for c in third["consumers"]] == [
        ("test-q", "handled"),
        ("other-q", "waiting"),
    ]
    assert trail["events"][0]["consumers"] == []
    assert [(r["at"], r["service"], r["what"]) for r in trail["timeline"]] == [
        ("2030-01-01T09:59:59+00:00", "two", "published nobody.listens"),
        ("2030-01-01T10:00:00+00:00", "one", "published test.happened"),
        ("2030-01-01T10:00:00.3+00:00", "test-q", "handled test.happened"),
        ("2030-01-01T10:00:00.4+00:00", "other-q", "handled test.happened"),
        ("2030-01-01T10:00:01+00:00", "one", "a note"),
        ("2030-01-01T10:00:02+00:00", "two", "published test.happened"),
        ("2030-01-01T10:00:02.5+00:00", "test-q", "handled test.happened"),
    ]
    assert trail["timeline"][2]["request_id"] == "req-1"  # the handled event's
    assert trail["requests"] == [
        {
            "request_id": "req-2",
            "first_at": "2030-01-01T09:59:59+00:00",
            "events": ["nobody.listens", "test.happened"],
        },
        {
            "request_id": "req-1",
            "first_at": "2030-01-01T10:00:00+00:00",
            "events": ["test.happened"],
        },
    ]
    assert trail["problems"] == [
        f"test.happened of two is not handled on queue other-q yet (sent at {third['sent_at']})"
    ]


def test_the_merge_names_what_is_stuck(two_consumers):
    unsent, lettered = str(uuid.uuid4()), str(uuid.uuid4())
    letter = {
        "id": 7,
        "event_id": lettered,
        "event_type": "test.happened",
        "handler": HANDLER,
        "queue": "test-q",
        "error": "RuntimeError: broken",
        "attempts": 6,
        "created_at": "2030-01-01T10:01:00+00:00",
        "replayed_at": None,
        "request_id": "req-1",
        "url": "/admin/one/events/deadletter/7/change/",
    }
    one = part(
        "one",
        published=[
            row(unsent, "test.happened", "2030-01-01T10:00:00+00:00", sent=False, attempts=2,
                error="ConnectionError: refused", request_id="-"),  # "-": not in a request
            row(lettered, "test.happened", "2030-01-01T10:00:01+00:00"),
        ],
        handled_rows=[handled(lettered, "test.happened", "2030-01-01T10:00:02+00:00", "other-q")],
        dead=[letter],
        problems=["payment 3 is PENDING"],
    )  # fmt: skip

    trail = merge([one], unavailable={"two": "no copy of two is reachable"})

    lettered_event = trail["events"][1]
    assert [(c["queue"], c["state"]) for c in lettered_event["consumers"]] == [
        ("test-q", "dead-lettered"),
        ("other-q", "handled"),
    ]
    assert [(c["queue"], c["state"]) for c in trail["events"][0]["consumers"]] == [
        ("test-q", "waiting"),
        ("other-q", "waiting"),
    ]
    assert trail["problems"] == [
        "test.happened of one is not sent yet: NOT SENT to test-q, other-q yet (2 attempt(s)): "
        "ConnectionError: refused",
        f"test.happened dead-lettered in one: {HANDLER} after 6 attempt(s): RuntimeError: broken",
        "one: payment 3 is PENDING",
        "two: its part of the trail is missing (no copy of two is reachable)",
    ]
    assert trail["unavailable"] == {"two": "no copy of two is reachable"}
    assert [r["request_id"] for r in trail["requests"]] == ["req-1"]
    dead_row = [r for r in trail["timeline"] if r["what"] == "dead-lettered test.happened"]
    assert dead_row[0]["flower_url"] == f"/flower/task/{handle_task_id(lettered, 'test-q')}"

    # Replayed, the dead letter is no longer a problem; the consumer waits for the handler again.
    letter["replayed_at"] = "2030-01-01T10:05:00+00:00"
    trail = merge([one])
    assert [c["state"] for c in trail["events"][1]["consumers"]] == ["waiting", "handled"]
    assert not any("dead-lettered" in problem for problem in trail["problems"])


# -- Flower knows an event's task by its id --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_relay_sends_each_event_as_the_task_its_id_and_queue_name(test_queue, broker_redis):
    event = published("soup")

    (message,) = queued_messages(broker_redis, test_queue)

    assert message["headers"]["id"] == handle_task_id(event.id, test_queue)
    assert handle_task_id(event.id, test_queue) != handle_task_id(event.id, "other-q")
    assert InboxEntry.objects.count() == 0

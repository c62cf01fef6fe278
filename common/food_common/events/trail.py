"""One subject's trail across services (an order's, say): each service's part, and their merge.

A subject is named by a field of the events' data and its value (`"order_id", 42`). A service's
part starts with `event_records()`: the events it published about the subject (outbox rows whose
data has that value, with their request ids and send attempts), the events it handled among them
and among those of other services whose ids the caller gives (the inbox keeps ids, not data), and
its dead letters of either. The service adds its own `records` (rows of the timeline, from the
models of its own domain), the `problems` it sees (a record left half-done) and any other field.

`merge()` turns the parts into what an operator reads: every event with its consumers as the
contract lists them (handled, dead-lettered or still waiting, with its task in Flower), one
time-sorted timeline, the request ids under which it all happened, and the problems that make a
stuck subject diagnosable (an event the broker never took, a consumer that has not handled it, a
dead letter, a service whose part is missing). The outbox keeps sent events for
EVENT_OUTBOX_RETENTION_DAYS (food_common.events.tasks.purge_outbox): an older subject's trail shows
its records without its events.

A service serves its part to the one that merges over an internal path that the gateway never
forwards, with no token but a request signed with the event signing key (`TrailPartView`,
`part_from_peer`; food_common.events.signing): the admin page that shows the trail has a staff
session, not a token to pass on.
"""

import logging
import uuid

from django.conf import settings
from django.db.models import Q
from django.urls import NoReverseMatch, reverse
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from food_common.events.bus import handle_task_id, handlers_for, registered
from food_common.events.contract import get_contract
from food_common.events.models import DeadLetter, InboxEntry, OutboxEvent
from food_common.events.signing import (
    REQUEST_SIGNATURE_HEADER,
    request_rejection,
    signed_request_headers,
)
from food_common.http import ServiceClient, UpstreamBadAnswer

logger = logging.getLogger(__name__)

# Where the gateway serves Flower (GATEWAY_PROXY_FLOWER): a task's page is <this>task/<task id>.
FLOWER_PATH = "/flower/"
# The lists every part has, with the fields of their rows (event_records); the rest of a part is
# the service's own.
EVENT_LISTS = {
    "published": ("id", "type", "occurred_at", "request_id", "sent_at", "send_attempts",
                  "last_error", "url"),
    "handled": ("event_id", "event_type", "handler", "queue", "handled_at", "url"),
    "dead_letters": ("id", "event_id", "event_type", "handler", "queue", "error", "attempts",
                     "created_at", "replayed_at", "request_id", "url"),
    "records": (),
}  # fmt: skip
MAX_EVENT_IDS = 1000


def _at(value) -> str | None:
    return value.isoformat() if value else None


def admin_change_url(obj) -> str:
    """Return the path of `obj`'s page in this service's admin ("" if it has none)."""
    meta = obj._meta
    try:
        return reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return ""


def _queue_of_handler() -> dict[str, str]:
    return {
        handler.name: handler.queue
        for event_type, queue in registered()
        for handler in handlers_for(event_type, queue)
    }


def event_ids_about(*, key: str, value) -> list[str]:
    """Return the ids of the events this service published about the subject, oldest first."""
    rows = OutboxEvent.objects.filter(**{f"data__{key}": value}).order_by("occurred_at")
    return [str(event_id) for event_id in rows.values_list("id", flat=True)]


def event_records(*, key: str, value, other_event_ids=()) -> dict:
    """Return what this service's event bus recorded about the subject `key` = `value`.

    `other_event_ids`: ids of other services' events about it, whose handling here is wanted.
    """
    published = list(OutboxEvent.objects.filter(**{f"data__{key}": value}).order_by("occurred_at"))
    ids = {event.id for event in published} | {uuid.UUID(str(i)) for i in other_event_ids}
    handled = InboxEntry.objects.filter(event_id__in=ids).order_by("handled_at", "id")
    # By id, and by data for what no id names (an envelope rejected before it reached a handler).
    dead = DeadLetter.objects.filter(
        Q(event_id__in=ids) | Q(**{f"envelope__data__{key}": value})
    ).order_by("created_at", "id")
    queues = _queue_of_handler()
    return {
        "service": settings.SERVICE_NAME,
        "published": [
            {
                "id": str(event.id),
                "type": event.type,
                "producer": event.producer,
                "occurred_at": _at(event.occurred_at),
                "request_id": event.request_id,
                "sent_at": _at(event.sent_at),
                "send_attempts": event.send_attempts,
                "last_error": event.last_error,
                "url": admin_change_url(event),
            }
            for event in published
        ],
        "handled": [
            {
                "event_id": str(entry.event_id),
                "event_type": entry.event_type,
                "handler": entry.handler,
                "queue": queues.get(entry.handler, ""),
                "handled_at": _at(entry.handled_at),
                "url": admin_change_url(entry),
            }
            for entry in handled
        ],
        "dead_letters": [
            {
                "id": letter.pk,
                "event_id": str(letter.event_id),
                "event_type": letter.event_type,
                "handler": letter.handler,
                "queue": letter.queue,
                "error": letter.error,
                "attempts": letter.attempts,
                "created_at": _at(letter.created_at),
                "replayed_at": _at(letter.replayed_at),
                "request_id": (
                    letter.envelope.get("request_id", "")
                    if isinstance(letter.envelope, dict)
                    else ""
                ),
                "url": admin_change_url(letter),
            }
            for letter in dead
        ],
        "records": [],
        "problems": [],
    }


def published_ids(part: dict) -> list[str]:
    """Return the ids of the events a part says its service published."""
    return [event["id"] for event in part["published"]]


# -- serving and asking for parts ------------------------------------------------------------


class SignedByPeer(BasePermission):
    """Allow a request signed with the event signing key (another service of this deployment)."""

    message = "This internal path needs a request signed by a service of this deployment."

    def has_permission(self, request, view) -> bool:
        reason = request_rejection(
            request.method, request.get_full_path(), request.headers.get(REQUEST_SIGNATURE_HEADER)
        )
        if reason:
            logger.warning("internal request %s refused: %s", request.path, reason)
            self.message = f"{self.message} Refused: {reason}."
        return reason is None


class TrailPartView(APIView):
    """This service's part of a subject's trail, for the service that merges them.

    `GET <path>?event=<uuid>&event=...` (the ids of other services' events about the subject).
    Internal: the gateway never forwards the path, and the request must be signed (SignedByPeer).
    A subclass implements `part(event_ids=..., **url_kwargs)`.
    """

    authentication_classes = []
    permission_classes = [SignedByPeer]

    def part(self, *, event_ids: list[uuid.UUID], **kwargs) -> dict:
        raise NotImplementedError

    @extend_schema(exclude=True)
    def get(self, request, **kwargs):
        raw_ids = request.query_params.getlist("event")
        if len(raw_ids) > MAX_EVENT_IDS:
            raise ValidationError({"event": [f"At most {MAX_EVENT_IDS} event ids."]})
        try:
            event_ids = [uuid.UUID(raw) for raw in raw_ids]
        except ValueError:
            raise ValidationError({"event": ["Each event must be an event id (a UUID)."]}) from None
        return Response(self.part(event_ids=event_ids, **kwargs))


def part_from_peer(client: ServiceClient, path: str, *, event_ids=()) -> dict:
    """Return the part another service serves at its internal `path`, asked with a signed request.

    Raise UpstreamError when no copy answers, UpstreamBadAnswer when the answer is not a part.
    """
    if event_ids:
        path += "?" + "&".join(f"event={uuid.UUID(str(i))}" for i in event_ids)
    response = client.request("GET", path, headers=signed_request_headers("GET", path))
    part = response.json_object()
    if not (
        isinstance(part.get("service"), str)
        and isinstance(part.get("problems"), list)
        and all(isinstance(problem, str) for problem in part["problems"])
        and all(
            isinstance(part.get(name), list)
            and all(isinstance(row, dict) and set(fields) <= set(row) for row in part[name])
            for name, fields in EVENT_LISTS.items()
        )
    ):
        raise UpstreamBadAnswer(f"{client.name} answered something that is not a trail part")
    return part


# -- the merge -------------------------------------------------------------------------------


def _sort_key(value: str | None):
    return parse_datetime(value) if value else None


def _consumer(event: dict, queue: str) -> dict:
    consumers = event["consumers"]
    if queue not in consumers:
        task_id = handle_task_id(event["id"], queue)
        consumers[queue] = {
            "queue": queue,
            "state": "waiting",
            "task_id": task_id,
            "flower_url": f"{FLOWER_PATH}task/{task_id}",
            "handled": [],
            "dead_letters": [],
        }
    return consumers[queue]


def merge(parts: list[dict], *, unavailable: dict[str, str] | None = None) -> dict:
    """Return the events (with their consumers), timeline, requests and problems of `parts`.

    `unavailable`: the services whose part is missing, with why.
    """
    contract = get_contract()
    events: dict[str, dict] = {}
    for part in parts:
        for row in part["published"]:
            event = events[row["id"]] = {**row, "service": part["service"], "consumers": {}}
            spec = contract.events.get(row["type"])
            for queue in spec.consumers if spec else ():
                _consumer(event, queue)
    timeline, problems = [], []

    def add(at, service, what, detail, request_id="", url="", flower_url=""):
        timeline.append(
            {
                "at": at,
                "service": service,
                "what": what,
                "detail": detail,
                "request_id": request_id,
                "url": url,
                "flower_url": flower_url,
            }
        )

    for event in events.values():
        queues = ", ".join(event["consumers"]) or "no queue"
        if event["sent_at"]:
            detail = f"sent to {queues} ({event['send_attempts']} attempt(s))"
        else:
            detail = f"NOT SENT to {queues} yet ({event['send_attempts']} attempt(s))"
            if event["last_error"]:
                detail += f": {event['last_error']}"
            problems.append(f"{event['type']} of {event['service']} is not sent yet: {detail}")
        add(
            event["occurred_at"],
            event["service"],
            f"published {event['type']}",
            detail,
            event["request_id"],
            event["url"],
        )
    for part in parts:
        service = part["service"]
        for row in part["handled"]:
            event = events.get(row["event_id"])
            queue = row["queue"] or row["handler"]
            flower_url = ""
            if event:
                consumer = _consumer(event, queue)
                consumer["handled"].append({**row, "service": service})
                flower_url = consumer["flower_url"]
            add(
                row["handled_at"],
                row["queue"] or service,
                f"handled {row['event_type']}",
                f"by {row['handler']} ({service})",
                event["request_id"] if event else "",
                row["url"],
                flower_url,
            )
        for row in part["dead_letters"]:
            event = events.get(row["event_id"])
            flower_url = ""
            if event:
                consumer = _consumer(event, row["queue"])
                consumer["dead_letters"].append({**row, "service": service})
                flower_url = consumer["flower_url"]
            detail = f"{row['handler']} after {row['attempts']} attempt(s): {row['error']}"
            if row["replayed_at"]:
                detail += f" (replayed at {row['replayed_at']})"
            else:
                problems.append(f"{row['event_type']} dead-lettered in {service}: {detail}")
            add(
                row["created_at"],
                row["queue"] or service,
                f"dead-lettered {row['event_type']}",
                detail,
                row["request_id"],
                row["url"],
                flower_url,
            )
        for row in part["records"]:
            add(
                row.get("at"),
                row.get("service") or service,
                row.get("what", ""),
                row.get("detail", ""),
                row.get("request_id", ""),
                row.get("url", ""),
            )
        problems.extend(f"{service}: {problem}" for problem in part["problems"])
    for event in events.values():
        for consumer in event["consumers"].values():
            if any(not letter["replayed_at"] for letter in consumer["dead_letters"]):
                consumer["state"] = "dead-lettered"
            elif consumer["handled"]:
                consumer["state"] = "handled"
            elif event["sent_at"]:
                problems.append(
                    f"{event['type']} of {event['service']} is not handled on queue "
                    f"{consumer['queue']} yet (sent at {event['sent_at']})"
                )
        event["consumers"] = list(event["consumers"].values())
    for service, reason in (unavailable or {}).items():
        problems.append(f"{service}: its part of the trail is missing ({reason})")

    ordered = sorted(events.values(), key=lambda e: _sort_key(e["occurred_at"]))
    requests: dict[str, dict] = {}
    for event in ordered:
        if event["request_id"] not in ("", "-"):  # "-": published outside any request (beat)
            request = requests.setdefault(
                event["request_id"],
                {"request_id": event["request_id"], "first_at": event["occurred_at"], "events": []},
            )
            request["events"].append(event["type"])
    timeline.sort(key=lambda row: (row["at"] is None, _sort_key(row["at"]) or 0))
    return {
        "events": ordered,
        "timeline": timeline,
        "requests": list(requests.values()),
        "problems": problems,
        "unavailable": unavailable or {},
    }

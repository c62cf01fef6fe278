"""Publish events through the outbox, relay them to the broker, dispatch them to handlers."""

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from celery import current_app
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from food_common.db import violates
from food_common.events.contract import ContractViolation, get_contract
from food_common.events.models import INBOX_CONSTRAINT, InboxEntry, OutboxEvent
from food_common.request_id import get_request_id

logger = logging.getLogger(__name__)

HANDLE_TASK = "food.events.handle"


@dataclass(frozen=True)
class Event:
    """An event as a handler receives it."""

    id: str
    type: str
    version: int
    occurred_at: datetime
    producer: str
    request_id: str
    data: dict

    @classmethod
    def from_envelope(cls, envelope: dict) -> "Event":
        return cls(
            id=envelope["id"],
            type=envelope["type"],
            version=envelope.get("version", 1),
            occurred_at=parse_datetime(envelope["occurred_at"]),
            producer=envelope.get("producer", ""),
            request_id=envelope.get("request_id", ""),
            data=envelope["data"],
        )


def publish(event_type: str, data: dict) -> OutboxEvent:
    """Write `event_type` to the outbox in the current transaction; send it after commit.

    Raise ContractViolation if the contract does not make this service its producer, or (with
    EVENT_CONTRACT_VALIDATE) if `data` breaks the contract's schema of it.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(
            "publish() must be called inside the transaction of the change it reports"
        )
    spec = get_contract().event(event_type)
    if spec.producer != settings.SERVICE_NAME:
        raise ContractViolation(
            f"{event_type} is produced by {spec.producer!r} in the contract, "
            f"not by {settings.SERVICE_NAME!r}"
        )
    # Stored and sent as plain JSON (Decimals, dates, UUIDs as strings), the same whether it goes
    # out at commit or later from the sweep; checked in that form.
    data = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    if settings.EVENT_CONTRACT_VALIDATE:
        spec.validate(data)
    event = OutboxEvent.objects.create(
        type=event_type,
        version=spec.version,
        producer=settings.SERVICE_NAME,
        request_id=get_request_id(),
        data=data,
    )
    transaction.on_commit(lambda: relay(event), robust=True)
    return event


def handle_task_id(event_id, queue: str) -> str:
    """Return the Celery task id of the `food.events.handle` task of event `event_id` on `queue`.

    Derived from both rather than random, so whoever knows the event knows its task in Flower
    (`/flower/task/<id>`, its retries included); a re-send of the same event reuses it.
    """
    return str(uuid.uuid5(uuid.UUID(str(event_id)), queue))


def relay(event: OutboxEvent) -> bool:
    """Send one outbox event to the queues the contract lists; return False if the broker refused.

    An event of a type the contract no longer lists goes nowhere (and counts as sent).
    """
    envelope = event.envelope()
    try:
        for queue in get_contract().consumers_of(event.type):
            current_app.send_task(
                HANDLE_TASK,
                args=[envelope, queue],
                queue=queue,
                task_id=handle_task_id(event.id, queue),
                retry=False,
                headers={"request_id": event.request_id},
                argsrepr=handle_task_argsrepr(envelope, queue),
            )
    except Exception as exc:  # noqa: BLE001 - any broker failure: the sweep sends it later
        OutboxEvent.objects.filter(pk=event.pk).update(
            send_attempts=F("send_attempts") + 1,
            last_error=f"{exc.__class__.__name__}: {exc}"[:1000],
        )
        logger.warning(
            "event %s %s not sent yet (%s); the outbox sweep will retry", event.type, event.id, exc
        )
        return False
    OutboxEvent.objects.filter(pk=event.pk).update(
        sent_at=timezone.now(), send_attempts=F("send_attempts") + 1, last_error=""
    )
    return True


def handle_task_argsrepr(envelope: object, queue: str, handler: str | None = None) -> str:
    """Return what Celery's log lines and Flower show as a food.events.handle task's arguments.

    The event's type, id and request id (Flower finds its tasks by it), never its data: Celery
    logs a task's arguments at INFO ("Task ... received"), and events carry personal data.
    """
    fields = {
        key: str(envelope.get(key, "?") if isinstance(envelope, dict) else "?")[:128]
        for key in ("type", "id", "request_id")
    }
    event = f"<event {fields['type']} {fields['id']} request_id={fields['request_id']}>"
    return f"[{', '.join([event, repr(queue), *([repr(handler)] if handler else [])])}]"


def relay_pending(*, older_than_seconds: float = 2.0, limit: int = 500) -> int:
    """Send outbox events the broker has not taken yet (oldest first); return how many went out."""
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    sent = 0
    with transaction.atomic():
        pending = (
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(sent_at__isnull=True, occurred_at__lte=cutoff)
            .order_by("occurred_at")[:limit]
        )
        for event in pending:
            if not relay(event):
                break  # the broker is still away: stop, the next sweep goes on
            sent += 1
    return sent


def purge_sent(*, older_than_days: float, batch: int = 5000, max_batches: int = 20) -> int:
    """Delete outbox events sent more than `older_than_days` ago (by when they occurred), in
    batches of `batch` rows, each its own transaction; return how many went.

    An event not sent yet is never deleted, whatever its age. What is left over after
    `max_batches` goes with the next run. Inbox entries are kept: they are what makes a handler
    ignore a repeat of an old event, and a repeat can come at any time (a replayed message).
    """
    cutoff = timezone.now() - timezone.timedelta(days=older_than_days)
    deleted = 0
    for _ in range(max_batches):
        ids = list(
            OutboxEvent.objects.filter(occurred_at__lt=cutoff, sent_at__isnull=False)
            .order_by("occurred_at")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            break
        deleted += OutboxEvent.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch:
            break
    return deleted


# -- consuming ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Handler:
    name: str
    event_type: str
    queue: str
    func: Callable[[Event], None]


_handlers: dict[tuple[str, str], list[Handler]] = defaultdict(list)


def handles(event_type: str):
    """Register the decorated function as a handler of `event_type` on its app's queue.

    The queue is the `event_queue` of the AppConfig of the app whose module defines the function;
    the system check `events.E002`/`E003` compares the registrations with the contract.
    """

    def register(func: Callable[[Event], None]):
        name = f"{func.__module__}.{func.__qualname__}"
        config = apps.get_containing_app_config(func.__module__)
        queue = getattr(config, "event_queue", "")
        if not queue:
            raise ImproperlyConfigured(
                f"@handles({event_type!r}) on {name}: its app "
                f"({config.label if config else 'none'}) names no event_queue on its AppConfig"
            )
        entries = _handlers[(event_type, queue)]
        if all(h.name != name for h in entries):
            entries.append(Handler(name, event_type, queue, func))
        return func

    return register


def handlers_for(event_type: str, queue: str) -> list[Handler]:
    return list(_handlers.get((event_type, queue), ()))


def registered() -> set[tuple[str, str]]:
    """Return the (event type, queue) pairs that have at least one handler in this project."""
    return {key for key, entries in _handlers.items() if entries}


def dispatch(envelope: dict, queue: str, only_handler: str | None = None) -> list[tuple[str, str]]:
    """Run each handler of the event on this queue once; return (handler, error) for failures.

    The envelope is trusted: `food.events.handle` has checked its signature first.
    """
    failures = []
    event = Event.from_envelope(envelope)
    for handler in handlers_for(event.type, queue):
        if only_handler and handler.name != only_handler:
            continue
        try:
            with transaction.atomic():
                # The inbox entry first, as a plain INSERT: a repeated delivery fails it on the
                # unique constraint (waiting for a concurrent one to commit or roll back), and
                # the transaction rolls back before the handler runs. One statement, where
                # get_or_create took four (SELECT, SAVEPOINT, INSERT, RELEASE).
                InboxEntry.objects.create(
                    event_id=event.id, handler=handler.name, event_type=event.type
                )
                handler.func(event)
        except Exception as exc:  # noqa: BLE001 - recorded, retried, then dead-lettered
            if isinstance(exc, IntegrityError) and violates(exc, INBOX_CONSTRAINT):
                logger.info("event %s already handled by %s: skipped", event.id, handler.name)
                continue
            logger.exception("handler %s failed on %s %s", handler.name, event.type, event.id)
            failures.append((handler.name, f"{exc.__class__.__name__}: {exc}"))
    return failures

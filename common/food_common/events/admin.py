"""Outbox, inbox and dead letters: records of what happened, view only; send now and replay."""

from django.contrib import admin, messages
from django.utils import timezone

from food_common.admin import RecordAdmin, pretty_json
from food_common.events.bus import handle_task_argsrepr, relay
from food_common.events.models import REJECTED, DeadLetter, InboxEntry, OutboxEvent
from food_common.events.tasks import handle_event


@admin.register(OutboxEvent)
class OutboxEventAdmin(RecordAdmin):
    list_display = ["type", "id", "occurred_at", "sent_at", "send_attempts", "request_id"]
    list_filter = ["type", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["id", "request_id"]
    fields = [f.name if f.name != "data" else "data_json" for f in OutboxEvent._meta.fields]
    readonly_fields = fields
    actions = ["send_now"]

    @admin.display(description="data")
    def data_json(self, event: OutboxEvent) -> str:
        return pretty_json(event.data)

    @admin.action(description="Send the selected events to the broker now", permissions=["operate"])
    def send_now(self, request, queryset):
        sent = sum(relay(event) for event in queryset)
        self.message_user(request, f"{sent} of {queryset.count()} event(s) sent.")


@admin.register(InboxEntry)
class InboxEntryAdmin(RecordAdmin):
    list_display = ["event_type", "event_id", "handler", "handled_at"]
    list_filter = ["event_type", "handler"]
    search_fields = ["event_id"]
    readonly_fields = ["event_id", "event_type", "handler", "handled_at"]


@admin.register(DeadLetter)
class DeadLetterAdmin(RecordAdmin):
    list_display = ["event_type", "event_id", "handler", "attempts", "created_at", "replayed_at"]
    list_filter = ["event_type", "handler", ("replayed_at", admin.EmptyFieldListFilter)]
    search_fields = ["event_id", "error"]
    fields = [f.name if f.name != "envelope" else "envelope_json" for f in DeadLetter._meta.fields]
    readonly_fields = fields
    actions = ["replay"]

    @admin.display(description="envelope")
    def envelope_json(self, letter: DeadLetter) -> str:
        return pretty_json(letter.envelope)

    @admin.action(
        description="Replay the selected events to their handler", permissions=["operate"]
    )
    def replay(self, request, queryset):
        count = 0
        for letter in queryset:
            # Sent as received, signature included: a rejected envelope is checked again (and
            # applied, to every handler of its queue, only if its signature is good after all).
            handler = None if letter.handler == REJECTED else letter.handler
            # Handled under the request id it was published under, as when it was relayed.
            request_id = (
                letter.envelope.get("request_id") if isinstance(letter.envelope, dict) else None
            )
            handle_event.apply_async(
                args=[letter.envelope, letter.queue, handler],
                queue=letter.queue,
                headers={"request_id": request_id or "-"},
                argsrepr=handle_task_argsrepr(letter.envelope, letter.queue, handler),
            )
            letter.replayed_at = timezone.now()
            letter.save(update_fields=["replayed_at"])
            count += 1
        self.message_user(
            request, f"{count} event(s) sent again to their handler.", messages.SUCCESS
        )

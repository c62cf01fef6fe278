"""The event handler of the tests (found by food_common.events' autodiscovery of `handlers`)."""

from food_common.events.bus import handles
from food_common.request_id import get_request_id
from tests.models import HandledNote

# Flip to make the handler fail (a "bug"), flip back to "fix" it.
BROKEN = {"on": False, "duplicate_note": False}
CALLS: list[tuple[str, str]] = []  # (event id, request id seen by the handler)


@handles("test.happened")
def remember(event):
    """Write a note for the event, then fail if the handler is currently broken."""
    HandledNote.objects.create(event_id=event.id, text=str(event.data.get("text", "")))
    if BROKEN["duplicate_note"]:  # a bug that breaks one of the handler's own constraints
        HandledNote.objects.create(event_id=event.id, text=str(event.data.get("text", "")))
    CALLS.append((event.id, get_request_id()))
    if BROKEN["on"]:
        raise RuntimeError(f"handler is broken (event {event.id})")

"""System check: this project's event handlers are the ones the contract lists for its queues.

Run by `manage.py check` and `manage.py preflight` (so a worker whose handlers disagree with the
contract does not start): a handler registered for an event its queue is not a consumer of
would never be sent that event, and a consumer queue of this project without a handler would
receive the event and drop it.
"""

from django.core import checks

from food_common.events.bus import handlers_for, registered
from food_common.events.contract import ContractError, get_contract
from food_common.events.queues import local_queues


@checks.register("events")
def check_handlers_match_the_contract(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    try:
        contract = get_contract()
    except ContractError as exc:
        return [checks.Error(str(exc), hint="Set EVENT_CONTRACT_FILE.", id="events.E001")]
    queues = set(local_queues())
    expected = contract.consumed_on(queues)
    found = registered()
    errors = []
    for event_type, queue in sorted(found - expected):
        names = ", ".join(h.name for h in handlers_for(event_type, queue))
        errors.append(
            checks.Error(
                f"{names} handles {event_type} on queue {queue!r}, but the event contract does "
                f"not list {queue!r} as a consumer of {event_type}",
                hint=f"Add a receive operation with x-consumer: {queue} to {contract.source}, "
                "or remove the handler.",
                id="events.E002",
            )
        )
    for event_type, queue in sorted(expected - found):
        errors.append(
            checks.Error(
                f"the event contract lists queue {queue!r} (an app of this project) as a "
                f"consumer of {event_type}, but no handler of it is registered",
                hint=f"Add @handles({event_type!r}) to the handlers.py of the app whose "
                f"event_queue is {queue!r}, or remove the receive operation from "
                f"{contract.source}.",
                id="events.E003",
            )
        )
    return errors

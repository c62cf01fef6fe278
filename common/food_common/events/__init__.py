"""Events between services: a transactional outbox, Celery on Redis, idempotent consumers.

The contract (`contract`, an AsyncAPI document at EVENT_CONTRACT_FILE) says for every event type
its version, producer, consuming queues and data schema; the code below reads it.

Producing: `publish("order.created", data)` inside the database transaction of the change that
causes it, in the service the contract names as its producer (its data checked against the
contract with EVENT_CONTRACT_VALIDATE). The event is an `OutboxEvent` row of that transaction;
after commit it is sent to every queue the contract lists for it, and the periodic
`relay_outbox` task re-sends what the broker did not take; `purge_outbox` deletes the sent
events older than EVENT_OUTBOX_RETENTION_DAYS. No event exists for a rolled-back
change; no committed change loses its event.

Consuming: `@handles("order.created")` in an app's `handlers` module registers a handler on the
app's queue (its AppConfig's `event_queue`); a system check (`checks`) compares the handlers with
the contract. The queue's worker runs it inside a transaction together with an `InboxEntry`
(unique per event and handler), so a repeated delivery is ignored. Failures are retried with
exponential backoff, then recorded as a `DeadLetter`, which the admin can replay.

Proof of origin: every envelope is signed by its producer (HMAC-SHA256 with `EVENT_SIGNING_KEY`),
and the consumer's task rejects one that is not, before any handler runs (`signing`).

Trails: what each service's bus recorded about one subject (an order), served to the service that
merges them over an internal path signed with the same key, and merged into one story (`trail`).
"""

"""Events between services: a transactional outbox, Celery on Redis, idempotent consumers.

Producing: `publish("order.created", data)` inside the database transaction of the change that
causes it. The event is an `OutboxEvent` row of that transaction; after commit it is sent to the
queue of every subscriber (`routing.SUBSCRIBERS`), and the periodic `relay_outbox` task re-sends
what the broker did not take. No event exists for a rolled-back change; no committed change loses
its event.

Consuming: `@handles("order.created", queue="notifications")` registers a handler. The queue's
worker runs it inside a transaction together with an `InboxEntry` (unique per event and handler),
so a repeated delivery is ignored. Failures are retried with exponential backoff, then recorded as
a `DeadLetter`, which the admin can replay.

Proof of origin: every envelope is signed by its producer (HMAC-SHA256 with `EVENT_SIGNING_KEY`),
and the consumer's task rejects one that is not, before any handler runs (`signing`).
"""

"""Writes of the payments service: the one module views, handlers, tasks and the admin call.

Each use case has a module of its own, where its rules are:

- `payments.charging`: paying an order (`payment_create`), charged once, with the bound on declines;
- `payments.refunds`: refunding a payment (`payment_refund`);
- `payments.expiry`: the safety net for payments left PENDING (`payment_expire_stale_pending`).

Their errors are in `payments.errors`, the data of their events in `payments.events`, and the
reading of the orders service's answers in `payments.clients`.
"""

from payments.charging import payment_create
from payments.expiry import payment_expire_stale_pending
from payments.refunds import payment_refund

__all__ = ["payment_create", "payment_expire_stale_pending", "payment_refund"]

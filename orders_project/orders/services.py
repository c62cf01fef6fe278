"""Writes of the orders service: the one entry point the API, the admin and the handlers call.

Each use case has its own module, named as the issue tracker and the design speak of it:

- `orders.placing`: placing an order (its lines, the Idempotency-Key, the order and its event);
- `orders.pricing`: what the catalog says it costs (the catalog's answer is read in `orders.clients`);
- `orders.transitions`: every status change (cancel, the kitchen's steps), one state machine
  (`orders.state_machine`);
- `orders.payment_outcomes`: what payments' events do to an order;
- `orders.delivery_outcomes`: what the delivery service's events do to an order.

The errors they raise are in `orders.errors`, the events they publish built in `orders.events`.
"""

from orders.delivery_outcomes import order_delivery_record
from orders.payment_outcomes import order_payment_record, order_refund_record
from orders.placing import order_place
from orders.transitions import order_advance, order_cancel, order_transition

__all__ = [
    "order_advance",
    "order_cancel",
    "order_delivery_record",
    "order_payment_record",
    "order_place",
    "order_refund_record",
    "order_transition",
]

"""The one routing table: which queues receive each event type (one queue per consuming worker)."""

SUBSCRIBERS: dict[str, tuple[str, ...]] = {
    "order.created": ("notifications",),
    "order.status_changed": ("notifications",),
    "order.cancelled": ("payments", "notifications"),
    "payment.succeeded": ("orders", "notifications"),
    "payment.failed": ("orders", "notifications"),
    "payment.refunded": ("orders", "notifications"),
}


def queues_for(event_type: str) -> tuple[str, ...]:
    """Return the queues that subscribe to `event_type` (none is allowed: nobody listens yet)."""
    return SUBSCRIBERS.get(event_type, ())

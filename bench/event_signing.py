"""The cost of proof of origin per event: signing at the producer, verifying at each consumer.

    python bench/event_signing.py [--number 5000]

Times food_common.events.signing itself (HMAC-SHA256 over the canonical JSON of the envelope) on
a typical `order.created` envelope, in this process: no broker, no database. One event is signed
once by its producer and verified once by each subscribing queue's worker (one or two).
"""

import argparse
import json
import sys
import timeit
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "common"))

# A typical envelope: order.created of a three-line order (the largest event payload we send).
ENVELOPE = {
    "id": str(uuid.UUID(int=1)),
    "type": "order.created",
    "version": 1,
    "occurred_at": datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC).isoformat(),
    "producer": "orders",
    "request_id": "0f3c2a9e6b7d4c1e8a5f2b3c4d5e6f70",
    "data": {
        "order_id": 123456,
        "customer_id": 4242,
        "customer_email": "customer-4242@example.com",
        "restaurant_id": 17,
        "restaurant_owner_id": 99,
        "items": [
            {
                "menu_item_id": 100 + n,
                "name": f"Dish number {n}",
                "unit_price": "12.50",
                "quantity": 2,
                "line_total": "25.00",
            }
            for n in range(3)
        ],
        "subtotal": "75.00",
        "total": "75.00",
        "currency": "EUR",
    },
}


def measure(number: int = 5000) -> dict:
    """Return µs per sign and per verify of ENVELOPE, best of 5 rounds of `number` calls each."""
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            EVENT_SIGNING_KEY="bench-event-signing-key-0123456789abcdef",
            EVENT_SIGNING_KEY_PREVIOUS="",
        )
    from food_common.events import signing

    signed = signing.sign(ENVELOPE)
    assert signing.rejection(signed) is None

    def per_call(statement) -> float:
        return min(timeit.repeat(statement, number=number, repeat=5)) / number * 1e6

    sign_us = per_call(lambda: signing.sign(ENVELOPE))
    verify_us = per_call(lambda: signing.rejection(signed))
    return {
        "envelope_bytes": len(json.dumps(signed)),
        "sign_us": round(sign_us, 2),
        "verify_us": round(verify_us, 2),
        # Signed once, verified by each of up to two subscribing queues.
        "us_per_event": round(sign_us + 2 * verify_us, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=5000)
    print(json.dumps(measure(parser.parse_args().number)))


if __name__ == "__main__":
    main()

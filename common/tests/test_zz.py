import json, base64, datetime, uuid, sys
from decimal import Decimal
import pytest
from django.db import transaction
from food_common.events.bus import publish

@pytest.mark.django_db(transaction=True)
def test_x(test_queue, broker_redis):
    with transaction.atomic():
        ev = publish("test.happened", {"amount": Decimal("12.50"), "at": datetime.datetime(2024,1,2,3,4,5, tzinfo=datetime.timezone.utc), "u": uuid.UUID(int=5)})
    ev.refresh_from_db()
    print("SENT", ev.sent_at, ev.last_error, file=sys.stderr)
    raws = broker_redis.lrange(test_queue, 0, -1)
    print("N", len(raws), file=sys.stderr)
    raw = raws[0]
    body = json.loads(base64.b64decode(json.loads(raw)["body"]))
    print("RAW", body[0][0]["data"], file=sys.stderr)
    print("DB", ev.envelope()["data"], file=sys.stderr)
    from kombu.utils.json import loads
    print("WORKER", loads(base64.b64decode(json.loads(raw)["body"]))[0][0]["data"], file=sys.stderr)

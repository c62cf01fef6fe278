"""Every page of the payments admin renders for staff; its records are view only (issue 17)."""

import pytest

from food_common.testing import admin_tour
from payments.models import IdempotencyRecord
from payments.tests.factories import PaymentFactory


@pytest.mark.django_db
def test_every_admin_page_renders_and_records_are_view_only(admin_client):
    PaymentFactory().refunds.create(amount="1.00", provider_reference="mock_re_1", reason="test")
    IdempotencyRecord.objects.create(
        customer_id=1, key="k", request_fingerprint="f", response_body={"id": 1}
    )

    tour = admin_tour(admin_client, "payments")

    assert tour.problems == []
    assert sorted(tour.records) == [
        "events.deadletter",
        "events.inboxentry",
        "events.outboxevent",
        "payments.idempotencyrecord",
        "payments.payment",
    ]

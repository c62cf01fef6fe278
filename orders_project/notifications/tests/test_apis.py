from datetime import timedelta

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from notifications import urls
from notifications.models import NotificationStatus
from notifications.tests.factories import CUSTOMER, OTHER_CUSTOMER, NotificationFactory

pytestmark = pytest.mark.django_db

FIELDS = {"id", "event_type", "subject", "body", "channel", "status", "created_at", "sent_at"}


def test_list_needs_a_valid_token(api_client):
    reply = api_client.get("/notifications")
    assert reply.status_code == 401
    assert reply.json()["code"] == "not_authenticated"
    assert reply["WWW-Authenticate"].startswith("Bearer")


def test_a_bad_token_is_refused(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    reply = api_client.get("/notifications")

    assert reply.status_code == 401
    assert reply.json()["code"] == "token_not_valid"


def test_a_caller_without_notifications_gets_an_empty_page(api_client_as):
    reply = api_client_as(5, "customer").get("/notifications")
    assert reply.status_code == 200
    assert reply.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_the_caller_sees_only_their_notifications_newest_first(api_client_as):
    now = timezone.now()
    old = NotificationFactory(created_at=now - timedelta(hours=2))
    new = NotificationFactory(created_at=now, status=NotificationStatus.SENT, sent_at=now)
    middle = NotificationFactory(created_at=now - timedelta(hours=1))
    NotificationFactory(recipient_id=OTHER_CUSTOMER, recipient_email="bob@example.com")

    reply = api_client_as(CUSTOMER, "customer").get("/notifications")

    assert reply.status_code == 200
    page = reply.json()
    assert page["count"] == 3
    assert [n["id"] for n in page["results"]] == [new.id, middle.id, old.id]
    first = page["results"][0]
    assert set(first) == FIELDS
    assert first["subject"] == new.subject
    assert first["status"] == "SENT"
    assert first["channel"] == "email"
    assert first["sent_at"] is not None


def test_any_role_reads_their_own(api_client_as):
    NotificationFactory(recipient_id=101)

    reply = api_client_as(101, "restaurant_owner").get("/notifications")

    assert reply.json()["count"] == 1


def test_the_list_is_paginated(api_client_as):
    NotificationFactory.create_batch(25)
    client = api_client_as(CUSTOMER, "customer")

    first = client.get("/notifications").json()
    second = client.get("/notifications?page=2").json()

    assert first["count"] == 25
    assert len(first["results"]) == 20
    assert first["next"].endswith("/notifications?page=2")
    assert len(second["results"]) == 5
    assert second["next"] is None
    assert not {n["id"] for n in first["results"]} & {n["id"] for n in second["results"]}


def test_a_page_past_the_end_is_a_json_404(api_client_as):
    reply = api_client_as(CUSTOMER, "customer").get("/notifications?page=9")

    assert reply.status_code == 404
    assert reply.json()["code"] == "not_found"


def test_the_list_takes_a_constant_number_of_queries(api_client_as, django_assert_max_num_queries):
    NotificationFactory.create_batch(10)
    client = api_client_as(CUSTOMER, "customer")

    with django_assert_max_num_queries(2):  # count + page
        response = client.get("/notifications")
    assert response.status_code == 200


def test_the_list_is_documented():
    schema = SchemaGenerator(patterns=urls.urlpatterns).get_schema(request=None, public=True)

    operation = schema["paths"]["/notifications"]["get"]
    assert operation["operationId"] == "notifications_list"
    assert {"200", "401", "404"} <= set(operation["responses"])
    assert [p["name"] for p in operation["parameters"]] == ["page"]
    page = schema["components"]["schemas"]["NotificationPage"]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    assert set(schema["components"]["schemas"]["Notification"]["properties"]) == FIELDS
    assert "Error" in schema["components"]["schemas"]

"""The gateway's own admin (Django under ASGI) locks out like the others (django-axes)."""

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient

from gateway.tests.test_operator_surfaces import reload_urls

pytestmark = pytest.mark.django_db

PASSWORD = "the-Right-passw0rd"


@pytest.fixture
def admin_on(settings, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    original = settings.GATEWAY_PROXY_ADMIN
    settings.GATEWAY_PROXY_ADMIN = True
    reload_urls()
    yield
    settings.GATEWAY_PROXY_ADMIN = original
    reload_urls()


def test_five_wrong_passwords_then_the_right_one_is_refused_under_asgi(admin_on):
    client = AsyncClient()

    def log_in(password: str):
        return async_to_sync(client.post)(
            "/admin/gateway/login/", {"username": "root", "password": password, "next": "/"}
        )

    statuses = [log_in("wrong-password").status_code for _ in range(5)]
    response = log_in(PASSWORD)

    assert statuses == [200] * 4 + [429]
    assert response.status_code == 429
    assert response.json()["code"] == "locked_out"

import pytest
from django.core.management import call_command

from accounts.models import User

pytestmark = pytest.mark.django_db


def test_ensure_local_admin_creates_the_admin_once(monkeypatch):
    monkeypatch.setenv("LOCAL_ADMIN_EMAIL", "Root@Example.com")
    monkeypatch.setenv("LOCAL_ADMIN_PASSWORD", "s3cret-pass")

    call_command("ensure_local_admin")
    call_command("ensure_local_admin")

    admin = User.objects.get()
    assert (admin.email, admin.role, admin.is_superuser) == ("root@example.com", "admin", True)
    assert admin.check_password("s3cret-pass")

"""Management commands: the local admin, and the demo riders' accounts of `make up`."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

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


def run(*args) -> list[int]:
    out = StringIO()
    call_command("ensure_demo_riders", *args, stdout=out)
    return [int(part) for part in out.getvalue().strip().split(",") if part]


def test_creates_rider_accounts_once_and_prints_their_ids(monkeypatch):
    monkeypatch.setenv("DEMO_RIDER_PASSWORD", "a-demo-riders-passw0rd")
    ids = run("--count", "3")
    assert ids == run("--count", "3")  # the second run finds them
    riders = User.objects.filter(pk__in=ids).order_by("email")
    assert [u.email for u in riders] == [f"rider{n}@example.com" for n in (1, 2, 3)]
    assert all(u.role == User.Role.RIDER for u in riders)
    assert riders[0].check_password("a-demo-riders-passw0rd")


def test_an_account_of_another_role_is_not_taken_over():
    User.objects.create_user("rider1@example.com", "x", role=User.Role.CUSTOMER)
    ids = run("--count", "2")
    assert User.objects.get(pk__in=ids).email == "rider2@example.com"


def test_the_default_password_is_refused_with_debug_off(monkeypatch):
    monkeypatch.setenv("DEBUG", "0")
    monkeypatch.delenv("DEMO_RIDER_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="DEMO_RIDER_PASSWORD"):
        run()
    assert not User.objects.filter(role=User.Role.RIDER).exists()

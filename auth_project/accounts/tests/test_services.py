import pytest
from rest_framework.exceptions import ValidationError

from accounts.errors import EmailTaken, RoleNotAllowed
from accounts.models import User
from accounts.services import user_register
from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def test_user_register_normalises_email_and_hashes_password():
    user = user_register(email="  Ann.Smith@Example.COM ", password=PASSWORD)

    assert user.email == "ann.smith@example.com"
    assert user.role == User.Role.CUSTOMER
    assert user.check_password(PASSWORD) and user.password != PASSWORD


def test_user_register_refuses_an_email_that_differs_only_in_case():
    user_register(email="ann@example.com", password=PASSWORD)

    with pytest.raises(EmailTaken):
        user_register(email="ANN@example.com", password=PASSWORD)


@pytest.mark.parametrize("role", [User.Role.RESTAURANT_OWNER, User.Role.RIDER])
def test_user_register_lets_owners_and_riders_sign_themselves_up(role):
    user = user_register(email="ann@example.com", password=PASSWORD, role=role)

    assert (user.role, user.is_staff, user.is_superuser) == (role, False, False)


def test_user_register_refuses_admin_role():
    with pytest.raises(RoleNotAllowed):
        user_register(email="ann@example.com", password=PASSWORD, role=User.Role.ADMIN)
    assert not User.objects.exists()


@pytest.mark.parametrize("password", ["short", "12345678901", "password123", "ann@example.com"])
def test_user_register_applies_password_validators(password):
    with pytest.raises(ValidationError) as exc_info:
        user_register(email="ann@example.com", password=password)

    assert "password" in exc_info.value.detail
    assert not User.objects.exists()


def test_create_superuser_is_an_admin():
    user = User.objects.create_superuser("Root@Example.com", PASSWORD)

    assert (user.email, user.role, user.is_staff, user.is_superuser) == (
        "root@example.com",
        User.Role.ADMIN,
        True,
        True,
    )

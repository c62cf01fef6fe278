import pytest

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ADMIN = "/admin/auth/accounts/user/"


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("root@example.com", PASSWORD))
    return client


def test_user_list_searches_by_email_and_filters_by_role(staff_client):
    UserFactory(email="owner@example.com", role=User.Role.RESTAURANT_OWNER)

    response = staff_client.get(ADMIN, {"q": "owner@", "role__exact": "restaurant_owner"})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_admin_adds_a_user_with_a_normalised_email(staff_client):
    response = staff_client.get(f"{ADMIN}add/")
    assert response.status_code == 200

    response = staff_client.post(
        f"{ADMIN}add/",
        {
            "email": "New.Owner@Example.com",
            "role": "restaurant_owner",
            "usable_password": "true",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="new.owner@example.com")
    assert user.role == "restaurant_owner" and user.check_password(PASSWORD)


def test_admin_add_refuses_an_email_taken_in_another_case(staff_client):
    response = staff_client.post(
        f"{ADMIN}add/",
        {
            "email": "ROOT@example.com",
            "role": "customer",
            "usable_password": "true",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors


def test_admin_change_form_renders(staff_client):
    user = UserFactory()

    response = staff_client.get(f"{ADMIN}{user.pk}/change/")

    assert response.status_code == 200

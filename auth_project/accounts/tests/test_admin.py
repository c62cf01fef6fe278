import pytest
from axes.models import AccessAttempt
from django.test import Client

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


# login lockout (django-axes, food_common.admin_lockout)


def admin_login(password: str) -> int:
    response = Client().post(
        "/admin/auth/login/", {"username": "root@example.com", "password": password, "next": "/"}
    )
    return response.status_code


def test_admin_login_locks_out_by_email(settings):
    User.objects.create_superuser("root@example.com", PASSWORD)

    statuses = [admin_login("wrong-password") for _ in range(settings.AXES_FAILURE_LIMIT)]

    assert statuses[-1] == 429 and admin_login(PASSWORD) == 429
    assert AccessAttempt.objects.get().username == "root@example.com"


def test_failed_api_logins_do_not_count_towards_the_admin_lockout(api_client, settings):
    settings.LOGIN_RATE_PER_EMAIL = settings.LOGIN_RATE_PER_IP = "100/min"
    User.objects.create_superuser("root@example.com", PASSWORD)

    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        response = api_client.post(
            "/auth/login", {"email": "root@example.com", "password": "wrong"}, format="json"
        )
        assert response.status_code == 401

    assert not AccessAttempt.objects.exists()
    assert admin_login(PASSWORD) == 302
    ok = {"email": "root@example.com", "password": PASSWORD}
    assert api_client.post("/auth/login", ok, format="json").status_code == 200

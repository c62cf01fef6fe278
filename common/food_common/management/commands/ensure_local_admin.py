"""`manage.py ensure_local_admin`: create the documented local superuser of this project if missing.

Works with any user model: the login is LOCAL_ADMIN_EMAIL when the model logs in by email, else
LOCAL_ADMIN_USERNAME ("admin" by default). The default password "admin" is refused when DEBUG is off.
"""

import os

from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.core.management import BaseCommand, CommandError

from food_common.env import env_secret


class Command(BaseCommand):
    help = "Create the local superuser (LOCAL_ADMIN_EMAIL / LOCAL_ADMIN_PASSWORD) if it does not exist."

    def handle(self, *args, **options):
        user_model = get_user_model()
        email = os.environ.get("LOCAL_ADMIN_EMAIL", "admin@example.com")
        try:
            password = env_secret("LOCAL_ADMIN_PASSWORD", "admin")
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        username_field = user_model.USERNAME_FIELD
        email_field = user_model.get_email_field_name()
        login = (
            email
            if username_field == email_field
            else os.environ.get("LOCAL_ADMIN_USERNAME", "admin")
        )
        try:
            user_model._default_manager.get_by_natural_key(login)
        except user_model.DoesNotExist:
            fields = {username_field: login, "password": password}
            if email_field != username_field:
                fields[email_field] = email
            user_model._default_manager.create_superuser(**fields)
            self.stdout.write(f"created local admin {login}")
        else:
            self.stdout.write(f"local admin {login} exists")

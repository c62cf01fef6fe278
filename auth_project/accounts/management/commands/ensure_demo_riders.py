"""`manage.py ensure_demo_riders [--count N]`: the accounts of the demo riders, if missing.

bin/bootstrap (`make up`) runs it, as it runs `ensure_local_admin` for the demo restaurants' owner:
rider1@example.com ... rider<N>@example.com, role rider, password DEMO_RIDER_PASSWORD ("rider" when
empty, allowed with DEBUG on only). It prints their ids, comma-separated, for the delivery
service's `manage.py seed_riders --user-ids`, which gives them their rider profiles.
"""

from django.core.exceptions import ImproperlyConfigured
from django.core.management import BaseCommand, CommandError

from accounts.models import User
from food_common.env import env_secret

EMAIL = "rider{n}@example.com"


class Command(BaseCommand):
    help = "Create the demo riders' accounts (rider<n>@example.com) if missing; print their ids."

    def add_arguments(self, parser):
        parser.add_argument("--count", type=int, default=5)

    def handle(self, *args, count, **options):
        if not 0 <= count <= 1000:
            raise CommandError("--count must be between 0 and 1000")
        try:
            password = env_secret("DEMO_RIDER_PASSWORD", "rider")
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        ids = []
        for n in range(1, count + 1):
            email = EMAIL.format(n=n)
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(email, password, role=User.Role.RIDER)
            elif user.role != User.Role.RIDER:
                self.stderr.write(f"{email} exists with the role {user.role}: not a demo rider")
                continue
            ids.append(str(user.pk))
        self.stdout.write(",".join(ids))

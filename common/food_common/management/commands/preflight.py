"""`manage.py preflight`: say in one line what stops this service from starting, or that it can."""

import sys

from django.conf import settings
from django.core import checks
from django.core.management import BaseCommand

from food_common.health import run_checks


class Command(BaseCommand):
    requires_system_checks = []  # run below, to report them in one line
    help = "Check configuration, database and Redis before starting a server; exit 1 with one clear line if not."

    def add_arguments(self, parser):
        parser.add_argument(
            "--skip-dependencies", action="store_true", help="only run system checks"
        )

    def handle(self, *args, skip_dependencies=False, **options):
        service = settings.SERVICE_NAME
        serious = [issue for issue in checks.run_checks() if issue.is_serious()]
        if serious:
            self._fail(
                service,
                "configuration is invalid: " + "; ".join(f"({i.id}) {i.msg}" for i in serious),
            )
        if skip_dependencies:
            return
        results = run_checks(settings.READY_CHECKS)
        for name, outcome in results.items():
            if outcome != "ok":
                hint = _HINTS.get(name, "")
                self._fail(service, f"{name} does not answer ({outcome}).{hint}")
        self.stdout.write(f"{service}: preflight ok ({', '.join(results)})")

    def _fail(self, service: str, message: str):
        self.stderr.write(f"{service}: cannot start: {message}")
        sys.exit(1)


_HINTS = {
    "database": " Is PostgreSQL running and DATABASE_URL right? Start it with `make services`.",
    "redis": " Is Redis running and REDIS_URL right? Start it with `make services`.",
    "broker": " Is Redis running and CELERY_BROKER_URL right? Start it with `make services`.",
}

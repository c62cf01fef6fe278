from django.core.management.base import BaseCommand

from payments import idempotency


class Command(BaseCommand):
    help = "Delete the saved answers of Idempotency-Keys older than 24 hours (they are expired)."

    def handle(self, *args, **options):
        deleted = idempotency.idempotency_records_purge()
        self.stdout.write(f"{deleted} expired idempotency record(s) deleted.")

"""`manage.py ensure_database`: create this project's PostgreSQL database if it does not exist yet."""

import sys

import psycopg
from django.conf import settings
from django.core.management import BaseCommand
from psycopg import sql


class Command(BaseCommand):
    help = "Create the default database of this project if missing (connects to the 'postgres' database)."

    def handle(self, *args, **options):
        db = settings.DATABASES["default"]
        params = {
            "host": db.get("HOST") or "127.0.0.1",
            "port": db.get("PORT") or 5432,
            "user": db.get("USER") or "postgres",
            "password": db.get("PASSWORD") or None,
            "dbname": "postgres",
            "connect_timeout": 3,
            "autocommit": True,
        }
        try:
            with psycopg.connect(**params) as conn:
                exists = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]
                ).fetchone()
                if not exists:
                    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
                    self.stdout.write(f"{settings.SERVICE_NAME}: created database {db['NAME']}")
        except psycopg.OperationalError as exc:
            first_line = str(exc).strip().splitlines()[0]
            self.stderr.write(
                f"{settings.SERVICE_NAME}: PostgreSQL at {params['host']}:{params['port']} does not answer "
                f"({first_line}). Start it with `make services`."
            )
            sys.exit(1)

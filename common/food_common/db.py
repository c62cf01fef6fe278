"""Small database helpers shared by the services."""

from django.db import IntegrityError


def violates(exc: IntegrityError, constraint: str) -> bool:
    """Return True if `exc` is a violation of the named constraint (unique, check...).

    PostgreSQL names it in the error's diagnostics (psycopg's `diag.constraint_name`); the
    message is the fallback when a driver gives no diagnostics.
    """
    name = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", None)
    return name == constraint if name is not None else constraint in str(exc)

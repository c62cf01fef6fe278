"""System checks of the gateway: no operator surface on the public port with a default password.

`manage.py preflight` (run by bin/serve) turns an Error here into one line and exit 1, so with
DEBUG off a gateway that would publish Flower or the admins behind "admin" (or nothing) never starts.
"""

from django.conf import settings
from django.core.checks import Error, Tags, register
from django.core.exceptions import ImproperlyConfigured

from food_common.env import env_secret

WEAK_PASSWORDS = ("", "admin")


def _password(name: str) -> str:
    """Return the secret `name` as the processes behind the surface read it ("" when missing)."""
    try:
        return env_secret(name, "admin")
    except ImproperlyConfigured:  # unset with DEBUG off
        return ""


@register(Tags.security)
def check_operator_surface_passwords(app_configs, **kwargs):
    """Refuse, with DEBUG off, to serve Flower or the admins whose password is default or empty."""
    if settings.DEBUG:
        return []
    errors = []
    if settings.GATEWAY_PROXY_FLOWER and _password("FLOWER_PASSWORD") in WEAK_PASSWORDS:
        errors.append(
            Error(
                "GATEWAY_PROXY_FLOWER is on with DEBUG off but FLOWER_PASSWORD is empty or "
                '"admin": set a real one, or GATEWAY_PROXY_FLOWER=0',
                id="gateway.E001",
            )
        )
    if settings.GATEWAY_PROXY_ADMIN and _password("LOCAL_ADMIN_PASSWORD") in WEAK_PASSWORDS:
        errors.append(
            Error(
                "GATEWAY_PROXY_ADMIN is on with DEBUG off but LOCAL_ADMIN_PASSWORD is empty or "
                '"admin": set a real one, or GATEWAY_PROXY_ADMIN=0',
                id="gateway.E002",
            )
        )
    return errors

"""Settings of the auth service: users and roles, RS256 tokens (issue, refresh, revoke) and the JWKS."""

from datetime import timedelta
from pathlib import Path

from food_common.env import env_int, env_str
from food_common.settings_base import *  # noqa: F403
from food_common.settings_base import (
    INSTALLED_APPS,
    JWT_AUDIENCE,
    JWT_ISSUER,
    JWT_LEEWAY,
    service_settings,
)

globals().update(service_settings("auth", database="food_auth"))

REPO_DIR = Path(__file__).resolve().parents[2]

INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework_simplejwt.token_blacklist", "accounts"]

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]

# The signing key (accounts.keys): PEM text or a file; with DEBUG on and neither set, a local key
# is generated once at JWT_LOCAL_PRIVATE_KEY_FILE. JWT_EXTRA_PUBLIC_KEYS_FILE holds older public
# keys (PEM) that stay in the JWKS while tokens they signed are still alive (key rotation).
JWT_PRIVATE_KEY = env_str("JWT_PRIVATE_KEY", "")
JWT_PRIVATE_KEY_FILE = env_str("JWT_PRIVATE_KEY_FILE", "")
JWT_LOCAL_PRIVATE_KEY_FILE = str(REPO_DIR / "var" / "keys" / "auth_jwt_private.pem")
JWT_EXTRA_PUBLIC_KEYS_FILE = env_str("JWT_EXTRA_PUBLIC_KEYS_FILE", "")
# auth verifies its own access tokens (GET /auth/me) from its keys, without fetching its JWKS.
JWT_KEY_RESOLVER = "accounts.keys.public_key_for_kid"

SIMPLE_JWT = {
    # Signing and verifying keys come from accounts.keys through accounts.tokens.KidTokenBackend.
    "ALGORITHM": "RS256",
    "ISSUER": JWT_ISSUER,
    "AUDIENCE": JWT_AUDIENCE,
    "LEEWAY": JWT_LEEWAY,
    "USER_ID_CLAIM": "sub",
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_TOKEN_CLASSES": ("accounts.tokens.AccessToken",),
    "TOKEN_OBTAIN_SERIALIZER": "accounts.serializers.TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "accounts.serializers.TokenRefreshSerializer",
    "TOKEN_BLACKLIST_SERIALIZER": "accounts.serializers.TokenBlacklistSerializer",
}

# POST /auth/login throttles (DRF rate syntax: "<count>/<sec|min|hour|day>").
LOGIN_RATE_PER_IP = env_str("LOGIN_RATE_PER_IP", "20/min")
LOGIN_RATE_PER_EMAIL = env_str("LOGIN_RATE_PER_EMAIL", "5/min")
# POST /auth/register throttles: per client IP, and one ceiling for every client together, since
# each registration costs a password hash (~0.25 s of a core): "2/s" keeps registrations to at
# most half a core of hashing, and one address to a few sign-ups an hour.
REGISTER_RATE_PER_IP = env_str("REGISTER_RATE_PER_IP", "10/hour")
REGISTER_RATE_GLOBAL = env_str("REGISTER_RATE_GLOBAL", "2/s")

"""Rate limits of POST /auth/login (per client IP and per email address) and POST /auth/register
(per client IP, and one ceiling for every client: each registration costs a password hash).
Counted in Redis, so every copy of auth shares them.
"""

import hashlib

from django.conf import settings
from redis.exceptions import LockError
from rest_framework.throttling import SimpleRateThrottle

from accounts.models import User


class SettingRateThrottle(SimpleRateThrottle):
    """Read the rate from the setting `rate_setting` when asked, so it follows the settings; count
    each request under a Redis lock of its counter.

    DRF reads a counter's history, decides and writes it back in separate cache calls, so parallel
    requests would all read the same history and all pass (16 parallel registrations did); the
    lock makes them take turns, so a burst gets exactly the rate.
    """

    rate_setting = ""
    lock_timeout = 1.0

    def get_rate(self) -> str:
        return getattr(settings, self.rate_setting)

    def allow_request(self, request, view) -> bool:
        key = self.get_cache_key(request, view) if self.rate else None
        if key is None:
            return super().allow_request(request, view)
        lock = self.cache.lock(
            f"{key}:lock", timeout=self.lock_timeout, sleep=0.01, blocking_timeout=self.lock_timeout
        )
        try:
            with lock:
                return super().allow_request(request, view)
        except LockError:  # not our turn within a second: refused, as when over the rate
            self.now, self.history = self.timer(), []
            return False


class LoginIPThrottle(SettingRateThrottle):
    scope = "login_ip"
    rate_setting = "LOGIN_RATE_PER_IP"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginEmailThrottle(SettingRateThrottle):
    scope = "login_email"
    rate_setting = "LOGIN_RATE_PER_EMAIL"

    def get_cache_key(self, request, view) -> str | None:
        email = request.data.get("email") if hasattr(request.data, "get") else None
        if not isinstance(email, str) or not email.strip():
            return None  # the serializer refuses the request
        # Hashed: no addresses in Redis, and no odd characters in keys.
        ident = hashlib.sha256(User.objects.normalize_email(email).encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class RegisterIPThrottle(SettingRateThrottle):
    scope = "register_ip"
    rate_setting = "REGISTER_RATE_PER_IP"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class RegisterGlobalThrottle(SettingRateThrottle):
    """One counter for every client: a ceiling on the password hashing registrations cause."""

    scope = "register_global"
    rate_setting = "REGISTER_RATE_GLOBAL"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": "all"}

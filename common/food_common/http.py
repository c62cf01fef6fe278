"""Calls between services: pooled connections, timeouts from settings, a circuit breaker per copy.

`UpstreamSet` spreads calls round-robin over the copies of one service and skips a copy whose
circuit is open; both this module's `ServiceClient` and the gateway's proxy use it. Written here
rather than taken from a library because the gateway must consult the breakers on its own fast path
(see docs/architecture.md); the logic is a few dozen lines.
"""

import functools
import itertools
import json
import logging
import threading
import time
from dataclasses import dataclass

import urllib3

from food_common.request_id import HEADER as REQUEST_ID_HEADER
from food_common.request_id import get_request_id

logger = logging.getLogger(__name__)


class CircuitBreaker:
    """Open after `threshold` consecutive failures; after `reset_after` s let one trial call through."""

    CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

    def __init__(self, threshold: int = 3, reset_after: float = 5.0):
        self.threshold = threshold
        self.reset_after = reset_after
        self.failures = 0
        self.opened_at = 0.0
        self._trial_started_at: float | None = None
        self._lock = threading.Lock()

    @property
    def state(self) -> str:
        if self.failures < self.threshold:
            return self.CLOSED
        if time.monotonic() - self.opened_at >= self.reset_after:
            return self.HALF_OPEN
        return self.OPEN

    def allow(self) -> bool:
        """Return True if a call may go through now (closed, or the one half-open trial).

        A trial whose outcome is never reported (the caller used another copy) expires after
        `reset_after`, so a recovered copy is always tried again.
        """
        if self.failures < self.threshold:
            return True
        with self._lock:
            now = time.monotonic()
            if now - self.opened_at < self.reset_after:
                return False
            if (
                self._trial_started_at is not None
                and now - self._trial_started_at < self.reset_after
            ):
                return False
            self._trial_started_at = now
            return True

    def record_success(self) -> None:
        if self.failures or self._trial_started_at is not None:
            with self._lock:
                self.failures = 0
                self._trial_started_at = None

    def record_failure(self) -> None:
        with self._lock:
            self.failures += 1
            self._trial_started_at = None
            if self.failures >= self.threshold:
                self.opened_at = time.monotonic()


@dataclass
class Upstream:
    """One copy of a service: its base URL and its circuit breaker."""

    base_url: str
    breaker: CircuitBreaker

    @functools.cached_property
    def host_port(self) -> tuple[str, int]:
        parsed = urllib3.util.parse_url(self.base_url)
        return parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)


class UpstreamSet:
    """The copies of one service, handed out round-robin, skipping those whose circuit is open."""

    def __init__(
        self, name: str, base_urls: list[str], threshold: int = 3, reset_after: float = 5.0
    ):
        if not base_urls:
            raise ValueError(f"no base URL configured for upstream {name!r}")
        self.name = name
        self.upstreams = [
            Upstream(url.rstrip("/"), CircuitBreaker(threshold, reset_after)) for url in base_urls
        ]
        self._counter = itertools.count()

    def candidates(self) -> list[Upstream]:
        """Return the copies to try for one call, in order: round-robin start, open circuits left out."""
        n = len(self.upstreams)
        start = next(self._counter) % n
        ordered = self.upstreams[start:] + self.upstreams[:start]
        return [u for u in ordered if u.breaker.allow()]


class UpstreamError(Exception):
    """No copy of the service answered; `kind` is "unavailable" or "timeout"."""

    def __init__(self, service: str, kind: str, message: str):
        super().__init__(message)
        self.service = service
        self.kind = kind


class UpstreamBadAnswer(Exception):
    """The service answered, but with something the caller cannot use (status, JSON, shape)."""


@dataclass
class ServiceResponse:
    service: str
    status: int
    body: bytes
    headers: dict

    def json(self):
        return json.loads(self.body or b"null")

    def json_object(self) -> dict:
        """Return a 200 answer's JSON object; raise UpstreamError on 5xx, UpstreamBadAnswer else.

        Callers handle the statuses they expect (404...) before calling this.
        """
        if self.status >= 500:
            raise UpstreamError(
                self.service, "unavailable", f"{self.service} answered HTTP {self.status}"
            )
        if self.status != 200:
            raise UpstreamBadAnswer(
                f"{self.service} answered HTTP {self.status}: {self.body[:300]!r}"
            )
        try:
            data = self.json()
        except ValueError as exc:
            raise UpstreamBadAnswer(f"{self.service} answered invalid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise UpstreamBadAnswer(f"{self.service} answered JSON that is not an object")
        return data


class ServiceClient:
    """A pooled JSON client for one service, with timeouts, round-robin and circuit breakers."""

    def __init__(
        self,
        name: str,
        base_urls: list[str],
        *,
        connect_timeout: float = 1.0,
        read_timeout: float = 5.0,
        pool_size: int = 10,
    ):
        self.upstreams = UpstreamSet(name, base_urls)
        self.name = name
        self.pool = urllib3.PoolManager(
            maxsize=pool_size,
            retries=False,
            timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
        )

    @classmethod
    def from_settings(cls, name: str, base_urls: list[str]) -> "ServiceClient":
        """Return a client of `name` with the project's SERVICE_CONNECT/READ_TIMEOUT settings."""
        from django.conf import settings  # the gateway's proxy imports this module too

        return cls(
            name,
            base_urls,
            connect_timeout=settings.SERVICE_CONNECT_TIMEOUT,
            read_timeout=settings.SERVICE_READ_TIMEOUT,
        )

    def request(
        self, method: str, path: str, *, json_body=None, token: str | None = None, headers=None
    ) -> ServiceResponse:
        """Send one request to a healthy copy; raise UpstreamError when none answers in time."""
        send_headers = {"Accept": "application/json", REQUEST_ID_HEADER: get_request_id()}
        if token:
            send_headers["Authorization"] = f"Bearer {token}"
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            send_headers["Content-Type"] = "application/json"
        send_headers.update(headers or {})
        for upstream in self.upstreams.candidates():
            try:
                response = self.pool.request(
                    method, upstream.base_url + path, body=body, headers=send_headers
                )
            except urllib3.exceptions.ConnectTimeoutError:
                # Refused or no connection in time (NewConnectionError is a subclass): nothing
                # was sent, so trying the next copy is safe, even for a POST.
                upstream.breaker.record_failure()
                continue
            except (urllib3.exceptions.TimeoutError, urllib3.exceptions.ProtocolError) as exc:
                upstream.breaker.record_failure()
                kind = (
                    "timeout" if isinstance(exc, urllib3.exceptions.TimeoutError) else "unavailable"
                )
                raise UpstreamError(self.name, kind, f"{self.name} did not answer: {exc}") from exc
            if response.status >= 500:
                upstream.breaker.record_failure()
            else:
                upstream.breaker.record_success()
            return ServiceResponse(
                self.name, response.status, response.data, dict(response.headers)
            )
        raise UpstreamError(self.name, "unavailable", f"no copy of {self.name} is reachable")

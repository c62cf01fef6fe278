"""`PUT /riders/me/location` answered before Django's request cycle, when nothing is wrong with it.

Working riders report their position every few seconds: most of all the system's requests. Through
Django's middleware and DRF an update cost the delivery process 1.3–1.8 ms of CPU, of which the
update itself (one Redis script, delivery.positions) is about a quarter; the rest is the request
cycle around it (bench/README.md, "Changes and their effect"). So `delivery_config.wsgi` wraps Django's
WSGI application in `LocationShortcut`, which stores an update itself when it can tell at a glance
that it is a good one, and hands every other request, unchanged, to Django.

A good update, and only that, is answered here (204): `PUT` on exactly this path, an allowed Host,
`Content-Type: application/json` (UTF-8), a short body that is a JSON object with exactly the
fields and values `LocationInputSerializer` accepts (its own fields check them: the rules live
once), a bearer token this process has verified before and that has not expired (`verified()`: no
I/O here, the first use of a token goes through DRF's authentication), the rider role, and a
rider whose dispatch state is in Redis and who may report now. Anything else, a refusal included
(bad body, token, role, 429, 403, 404, no state in Redis, Redis away), goes to Django, where
`RiderLocationApi` answers it as before, in the one error shape. The script stores nothing when
it refuses or finds no state, so Django running it again is the first run that counts.

What the middleware did for a request, the shortcut does for its own: the request id (accepted or
made, returned in `X-Request-ID`, on every log line), the access log line, and metrics of its own,
`delivery_location_shortcut_total` and `delivery_location_shortcut_seconds` (Django's
`django_http_*` series count only the requests Django answers).
"""

import io
import json
import logging
import time

from django.conf import settings
from django.http.request import split_domain_port, validate_host
from prometheus_client import Counter, Histogram

from delivery import positions
from delivery.serializers import LocationInputSerializer
from food_common.authentication import ROLE_RIDER, bearer_token
from food_common.request_id import HEADER, clean_request_id, current_request_id, log_access
from food_common.tokens import get_verifier

logger = logging.getLogger(__name__)

PATH = "/riders/me/location"
MAX_BODY = 256  # bytes: {"lat": …, "lon": …} is under 60
JSON_TYPES = {
    "application/json",
    "application/json; charset=utf-8",
    "application/json;charset=utf-8",
}

ANSWERED = Counter(
    "delivery_location_shortcut",
    "Location updates stored and answered (204) before Django's request cycle.",
)
SECONDS = Histogram(
    "delivery_location_shortcut_seconds",
    "Time to answer a location update in the shortcut.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
NO_CONTENT = "204 No Content"


class LocationShortcut:
    """A WSGI application: good location updates answered here, every other request by `django_app`."""

    def __init__(self, django_app):
        self.django_app = django_app
        # The serializer's own fields: they refuse (ValidationError) what it would refuse.
        self.fields = dict(LocationInputSerializer().fields)

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "PUT":
            return self.django_app(environ, start_response)
        started = time.perf_counter()
        request_id = clean_request_id(environ.get("HTTP_X_REQUEST_ID"))
        context = current_request_id.set(request_id)
        try:
            if self.answered(environ):
                headers = [
                    ("Content-Length", "0"),
                    (HEADER, request_id),
                    ("X-Content-Type-Options", "nosniff"),
                    ("X-Frame-Options", "DENY"),
                ]
                start_response(NO_CONTENT, headers)
                ANSWERED.inc()
                SECONDS.observe(time.perf_counter() - started)
                query = environ.get("QUERY_STRING")
                log_access("PUT", f"{PATH}?{query}" if query else PATH, PATH, 204, started)
                return [b""]
        finally:
            current_request_id.reset(context)
        # Django reads the id again from the same header; pass it on as made here.
        environ["HTTP_X_REQUEST_ID"] = request_id
        return self.django_app(environ, start_response)

    def answered(self, environ) -> bool:
        """Store the update if it is a good one and return True; else return False, and leave
        the request (its body included) as it came, for Django."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            return False
        if not 0 < length <= MAX_BODY or environ.get("CONTENT_TYPE", "").lower() not in JSON_TYPES:
            return False
        host = environ.get("HTTP_HOST", "")
        if not validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
            return False
        try:
            body = environ["wsgi.input"].read(length)
        except OSError:  # the client went away mid-body: Django's reading says so in its way
            return False
        environ["wsgi.input"] = io.BytesIO(body)  # Django reads it afresh if it has to answer
        try:
            return self.store(environ.get("HTTP_AUTHORIZATION"), body)
        except Exception:  # noqa: BLE001 - Django answers instead, in the one error shape
            logger.debug("location update passed to Django", exc_info=True)
            return False

    def store(self, authorization: str | None, body: bytes) -> bool:
        token = bearer_token(authorization)  # raises on a malformed header
        claims = get_verifier().verified(token) if token else None  # raises once expired
        if claims is None or claims.get("role") != ROLE_RIDER:
            return False
        data = json.loads(body.decode("utf-8"))
        if not isinstance(data, dict) or data.keys() != self.fields.keys():
            return False
        lat = self.fields["lat"].to_internal_value(data["lat"])
        lon = self.fields["lon"].to_internal_value(data["lon"])
        positions.location_record(user_id=int(claims["sub"]), lat=lat, lon=lon, load_missing=False)
        return True

"""The location shortcut (delivery.location_shortcut): good updates answered before Django, every
other request Django's, untouched; and the same answers as Django's for the same requests."""

import io
import json
import logging

import pytest
from delivery_config.wsgi import application, django_application
from django_redis import get_redis_connection
from prometheus_client import REGISTRY

from delivery import positions
from delivery.location_shortcut import PATH, LocationShortcut
from delivery.tests.factories import RIDER, RiderFactory
from food_common.logging import RequestIDFilter
from food_common.testing import make_access_token
from food_common.tokens import get_verifier

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _updates_may_come_at_once(settings):
    settings.RIDER_LOCATION_MIN_INTERVAL = 0


class Django:
    """Stands for Django's application: records what the shortcut handed it."""

    def __init__(self):
        self.seen: list[tuple[dict, bytes]] = []

    def __call__(self, environ, start_response):
        self.seen.append((environ, environ["wsgi.input"].read()))
        start_response("418 I'm a teapot", [("Content-Type", "text/plain")])
        return [b"django"]


def environ(body: bytes | None = None, *, token=None, method="PUT", path=PATH, **headers) -> dict:
    body = json.dumps({"lat": 52.5, "lon": 13.4}).encode() if body is None else body
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "4005",
        "HTTP_HOST": "127.0.0.1:4005",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
        "REMOTE_ADDR": "127.0.0.1",
    }
    if token:
        env["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    env.update(headers)
    return env


def call(app, env: dict) -> tuple[int, dict, bytes]:
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

    body = b"".join(app(env, start_response))
    return answer["status"], answer["headers"], body


def rider_token(user_id=RIDER, role="rider") -> str:
    """A rider's token this process has verified once (what DRF's authentication leaves)."""
    token = make_access_token(user_id, role=role)
    get_verifier().verify(token)
    return token


@pytest.fixture
def known_rider():
    """A verified rider whose dispatch state is in Redis (they have reported before)."""
    RiderFactory(user_id=RIDER)
    positions.rider_state_load(user_id=RIDER)
    return rider_token()


def answered_so_far() -> float:
    return REGISTRY.get_sample_value("delivery_location_shortcut_total") or 0.0


def test_a_good_update_is_stored_and_answered_without_django(known_rider, caplog):
    django = Django()
    before = answered_so_far()
    caplog.handler.addFilter(RequestIDFilter())  # as the configured handlers have it
    caplog.set_level(logging.INFO, logger="food.access")

    status, headers, body = call(
        LocationShortcut(django),
        environ(
            json.dumps({"lat": 52.51, "lon": 13.41}).encode(),
            token=known_rider,
            HTTP_X_REQUEST_ID="rider-req-1",
        ),
    )

    assert (status, body, django.seen) == (204, b"", [])
    assert headers["X-Request-ID"] == "rider-req-1"
    assert answered_so_far() == before + 1  # its own metric: Django's never saw it
    (line,) = [r for r in caplog.records if r.name == "food.access"]
    assert (line.getMessage(), line.status, line.request_id) == (
        "PUT /riders/me/location 204",
        204,
        "rider-req-1",
    )
    live = positions.rider_positions(user_ids=[RIDER])[RIDER]
    assert (live["lat"], live["lon"]) == (52.51, 13.41)


@pytest.mark.parametrize(
    ("case", "changes"),
    [
        ("another path", {"path": "/riders/me"}),
        ("another method", {"method": "POST"}),
        ("no token", {"token": None}),
        ("a token never verified here", {"token": "fresh"}),
        ("not a rider", {"token": "customer"}),
        ("not JSON", {"body": b"lat=1&lon=2"}),
        ("not UTF-8", {"body": '{"lat": 1, "lon": 2}'.encode("utf-16")}),
        ("a JSON list", {"body": b"[52.5, 13.4]"}),
        ("a field too many", {"body": b'{"lat": 1, "lon": 2, "alt": 3}'}),
        ("a field missing", {"body": b'{"lat": 1}'}),
        ("a string", {"body": b'{"lat": "52.5", "lon": 13.4}'}),
        ("a boolean", {"body": b'{"lat": true, "lon": 13.4}'}),
        ("out of range", {"body": b'{"lat": 86, "lon": 13.4}'}),
        ("not finite", {"body": b'{"lat": NaN, "lon": 13.4}'}),
        ("another content type", {"CONTENT_TYPE": "text/plain"}),
        ("another charset", {"CONTENT_TYPE": "application/json; charset=latin-1"}),
        ("no length", {"CONTENT_LENGTH": ""}),
        ("a long body", {"body": b'{"lat": 1, "lon": 2}' + b" " * 300}),
        ("a host not allowed", {"HTTP_HOST": "evil.example"}),
    ],
)
def test_anything_not_plainly_good_goes_to_django_untouched(known_rider, settings, case, changes):
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    changes = dict(changes)
    if changes.get("token") == "customer":
        changes["token"] = rider_token(role="customer")
    elif changes.get("token") == "fresh":
        changes["token"] = make_access_token(RIDER, role="rider", lifetime=299)
    changes.setdefault("token", known_rider)
    env = environ(**changes)
    sent = env["wsgi.input"].getvalue()
    django = Django()

    status, _, body = call(LocationShortcut(django), env)

    assert (status, body) == (418, b"django"), case
    ((seen, read),) = django.seen
    assert read == sent, case
    if case not in ("another path", "another method"):  # else not even looked at
        assert seen["HTTP_X_REQUEST_ID"]  # the id it made, for Django's log lines and answer
    assert positions.rider_positions(user_ids=[RIDER]) == {}, case  # nothing stored


@pytest.mark.parametrize("state", ["too soon", "not verified", "no profile", "not in Redis"])
def test_a_refused_or_unknown_rider_goes_to_django_with_nothing_stored(settings, state):
    token = rider_token()
    if state == "too soon":
        settings.RIDER_LOCATION_MIN_INTERVAL = 60
        RiderFactory(user_id=RIDER)
        positions.location_record(user_id=RIDER, lat=52.0, lon=13.0)
    elif state == "not verified":
        RiderFactory(user_id=RIDER, verified=False)
        positions.rider_state_load(user_id=RIDER)
    elif state == "no profile":
        positions.rider_state_load(user_id=RIDER)
    else:
        RiderFactory(user_id=RIDER)
    before = positions.rider_positions(user_ids=[RIDER])
    django = Django()

    status, _, _ = call(LocationShortcut(django), environ(token=token))

    assert status == 418 and len(django.seen) == 1
    assert positions.rider_positions(user_ids=[RIDER]) == before


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"lat": 52.5, "lon": 13.4}', 204),
        (b'{"lat": 1, "lon": -1}', 204),
        (b'{"lat": 85.05112878, "lon": 180}', 204),
        (b'{"lat": 90, "lon": 13.4}', 400),
        (b'{"lat": "x", "lon": 13.4}', 400),
        (b'{"lat": 52.5}', 400),
        (b"{", 400),
        (b"", 400),
    ],
)
def test_the_service_answers_as_django_alone_does(known_rider, settings, body, expected):
    """The WSGI application served (shortcut + Django) and Django alone give the same answer."""
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    redis = get_redis_connection()
    answers = []
    before = answered_so_far()
    for app in (application, django_application):
        redis.delete(positions._pos_key(RIDER))
        status, headers, content = call(app, environ(body, token=known_rider))
        stored = positions.rider_positions(user_ids=[RIDER]).get(RIDER)
        payload = json.loads(content) if content else None
        if payload:
            payload.pop("request_id")
        answers.append((status, payload, stored and (stored["lat"], stored["lon"])))
        assert headers.get("X-Request-ID")
    assert answers[0] == answers[1]
    assert answers[0][0] == expected
    # ... and a good update really took the shortcut (else this compares Django with itself)
    assert answered_so_far() - before == (1 if expected == 204 else 0)

"""Request ids: accepted or replaced, echoed, and carried by every log record; the JSON log line."""

import json
import logging
import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from food_common.logging import (
    ConsoleFormatter,
    PeriodicTaskNoiseFilter,
    RequestIDFilter,
    ServiceJsonFormatter,
    logging_config,
)
from food_common.request_id import (
    clean_request_id,
    current_request_id,
    get_request_id,
    task_request_id,
)
from food_common.settings_base import outbox_sweep


@pytest.fixture
def records_with_ids(caplog):
    """caplog, with the request id filter our stdout handler has."""
    caplog.set_level(logging.INFO)
    id_filter = RequestIDFilter("common")
    caplog.handler.addFilter(id_filter)
    yield caplog
    caplog.handler.removeFilter(id_filter)


def test_a_valid_header_is_kept_and_echoed(client):
    reply = client.get("/test/log", HTTP_X_REQUEST_ID="gw-42.a:b_c")
    assert reply["X-Request-ID"] == "gw-42.a:b_c"
    assert reply.json() == {"request_id": "gw-42.a:b_c"}


@pytest.mark.parametrize(
    "bad", ["has spaces", "x" * 129, "semi;colon", "new\nline", "é", "<script>"]
)
def test_a_bad_header_is_replaced(client, bad):
    reply = client.get("/test/log", HTTP_X_REQUEST_ID=bad)
    fresh = reply["X-Request-ID"]
    assert fresh != bad
    assert len(fresh) == 32 and int(fresh, 16) >= 0
    assert reply.json() == {"request_id": fresh}


def test_no_header_gets_a_fresh_id_each_time(client):
    first = client.get("/health")["X-Request-ID"]
    second = client.get("/health")["X-Request-ID"]
    assert first != second and len(first) == 32


def test_error_responses_carry_the_id_too(client):
    reply = client.get("/nowhere", HTTP_X_REQUEST_ID="e-1")
    assert reply["X-Request-ID"] == "e-1"


def test_the_id_is_reset_after_the_request(client):
    client.get("/test/log", HTTP_X_REQUEST_ID="r-1")
    assert get_request_id() == "-"


def test_log_records_during_the_request_carry_the_id(client, records_with_ids):
    client.get("/test/log?x=1", HTTP_X_REQUEST_ID="log-77")
    view_line = [r for r in records_with_ids.records if r.name == "tests.views"]
    assert [r.request_id for r in view_line] == ["log-77"]
    assert view_line[0].service == "common"
    access = [r for r in records_with_ids.records if r.name == "food.access"]
    assert len(access) == 1
    record = access[0]
    assert record.request_id == "log-77"
    assert record.getMessage() == "GET /test/log?x=1 200"
    assert (record.method, record.path, record.status) == ("GET", "/test/log", 200)
    assert record.duration_ms >= 0


def test_records_outside_a_request_have_a_dash(records_with_ids):
    logging.getLogger("tests.outside").info("no request here")
    assert records_with_ids.records[-1].request_id == "-"


def test_a_record_keeps_an_explicit_request_id():
    record = logging.makeLogRecord({"msg": "m", "request_id": "from-event"})
    token = current_request_id.set("from-context")
    try:
        RequestIDFilter("svc").filter(record)
    finally:
        current_request_id.reset(token)
    assert record.request_id == "from-event"


def test_the_json_line_has_time_level_service_logger_id_and_message():
    record = logging.makeLogRecord(
        {
            "name": "food.access",
            "levelname": "INFO",
            "levelno": 20,
            "msg": "GET / %s",
            "args": (200,),
        }
    )
    record.status = 200
    token = current_request_id.set("json-1")
    try:
        RequestIDFilter("orders").filter(record)
    finally:
        current_request_id.reset(token)
    line = ServiceJsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "INFO"
    assert data["service"] == "orders"
    assert data["logger"] == "food.access"
    assert data["request_id"] == "json-1"
    assert data["message"] == "GET / 200"
    assert data["status"] == 200
    assert "time" in data


def test_logging_config_wires_the_filter_and_formatter():
    config = logging_config("payments", "WARNING")
    assert config["root"] == {"handlers": ["stdout"], "level": "WARNING"}
    assert config["filters"]["request_id"]["service"] == "payments"
    handler = config["handlers"]["stdout"]
    assert handler["filters"] == ["request_id", "periodic_task_noise"]
    assert handler["formatter"] == "json"  # LOG_FORMAT's default
    assert config["disable_existing_loggers"] is False


def test_the_console_line_is_one_readable_line():
    record = logging.makeLogRecord(
        {"name": "food.access", "levelname": "INFO", "levelno": 20, "msg": "GET / %s"}
    )
    record.args = (200,)
    token = current_request_id.set("console-1")
    try:
        RequestIDFilter("orders").filter(record)
    finally:
        current_request_id.reset(token)
    line = ConsoleFormatter().format(record)
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d\.\d{3} INFO    orders console-1 food.access: GET / 200", line
    )


def test_log_format_picks_the_formatter_and_refuses_another():
    config = logging_config("orders", "INFO", "console")
    assert config["handlers"]["stdout"]["formatter"] == "console"
    assert config["formatters"]["console"]["()"] is ConsoleFormatter
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        logging_config("orders", "INFO", "text")


def celery_record(logger: str, msg: str, args: tuple, level: int = logging.INFO, **data):
    """A record as Celery logs it: beat with (entry, task) args, a worker with `data` extra."""
    record = logging.makeLogRecord({"name": logger, "levelno": level, "msg": msg, "args": args})
    if data:
        record.data = data
    return record


def test_celerys_routine_lines_about_periodic_tasks_are_dropped(settings):
    settings.CELERY_BEAT_SCHEDULE = {"sweep": outbox_sweep("q")}
    sweep = "food.events.relay_outbox"
    due = "Scheduler: Sending due task %s (%s)"
    received = "Task %(name)s[%(id)s] received"
    succeeded = "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"
    kept, dropped = [], []
    for record in [
        celery_record("celery.beat", due, ("sweep", sweep)),
        celery_record("celery.worker.strategy", received, (), name=sweep, id="1"),
        celery_record("celery.app.trace", succeeded, (), name=sweep, return_value="0"),
        celery_record("celery.beat", due, ("other", "tests.log_a_line")),
        celery_record("celery.worker.strategy", received, (), name="tests.log_a_line"),
        celery_record("celery.app.trace", succeeded, (), name=sweep, return_value="3"),
        celery_record("celery.app.trace", "Task %s raised", (), logging.ERROR, name=sweep),
        celery_record("tests.tasks", "outbox sweep sent %d event(s)", (0,)),
    ]:
        (kept if PeriodicTaskNoiseFilter().filter(record) else dropped).append(record)
    assert [r.name for r in dropped] == [
        "celery.beat",
        "celery.worker.strategy",
        "celery.app.trace",
    ]
    assert len(kept) == 5


def test_clean_request_id():
    assert clean_request_id("abc") == "abc"
    assert clean_request_id("a" * 128) == "a" * 128
    assert clean_request_id(None) != clean_request_id(None)
    assert len(clean_request_id("")) == 32
    assert clean_request_id("abc\n") != "abc\n"  # a trailing newline is no part of an id


def test_a_task_keeps_the_request_id_its_message_carried_and_anything_else_is_a_dash():
    assert task_request_id("req-1.a:b_c") == "req-1.a:b_c"
    for bad in (None, "", "has spaces", "abc\n", "x" * 129, 42, ["req-1"]):
        assert task_request_id(bad) == "-", bad

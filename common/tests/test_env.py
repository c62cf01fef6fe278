"""Configuration from the environment: parsing, clear errors naming the variable, secrets."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from food_common.env import env_bool, env_float, env_int, env_list, env_secret, env_str
from food_common.settings_base import service_settings

VAR = "FOOD_COMMON_TEST_VAR"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)
    monkeypatch.delenv("DEBUG", raising=False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True), ("true", True), ("TRUE", True), (" yes ", True), ("on", True),
        ("0", False), ("false", False), ("No", False), ("off", False), ("", False),
    ],
)  # fmt: skip
def test_env_bool_reads_the_usual_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv(VAR, raw)
    assert env_bool(VAR, default=not expected) is expected


def test_env_bool_default_when_unset():
    assert env_bool(VAR) is False
    assert env_bool(VAR, True) is True


def test_env_bool_refuses_anything_else_naming_the_variable(monkeypatch):
    monkeypatch.setenv(VAR, "maybe")
    with pytest.raises(ImproperlyConfigured, match=f"{VAR}='maybe' is not a boolean"):
        env_bool(VAR)


def test_env_int(monkeypatch):
    assert env_int(VAR, 7) == 7
    monkeypatch.setenv(VAR, "")
    assert env_int(VAR, 7) == 7
    monkeypatch.setenv(VAR, "-42")
    assert env_int(VAR, 7) == -42
    monkeypatch.setenv(VAR, "4.5")
    with pytest.raises(ImproperlyConfigured, match=f"{VAR}='4.5' is not an integer"):
        env_int(VAR, 7)


def test_env_float(monkeypatch):
    assert env_float(VAR, 0.5) == 0.5
    monkeypatch.setenv(VAR, "2.25")
    assert env_float(VAR, 0.5) == 2.25
    monkeypatch.setenv(VAR, "fast")
    with pytest.raises(ImproperlyConfigured, match=f"{VAR}='fast' is not a number"):
        env_float(VAR, 0.5)


def test_env_list(monkeypatch):
    assert env_list(VAR) == []
    assert env_list(VAR, "a,b") == ["a", "b"]
    monkeypatch.setenv(VAR, " x.example.com, ,y.example.com ,")
    assert env_list(VAR, "a,b") == ["x.example.com", "y.example.com"]
    monkeypatch.setenv(VAR, "")
    assert env_list(VAR, "a,b") == []


def test_env_str(monkeypatch):
    assert env_str(VAR, "dflt") == "dflt"
    monkeypatch.setenv(VAR, "set")
    assert env_str(VAR) == "set"
    monkeypatch.delenv(VAR)
    with pytest.raises(ImproperlyConfigured, match=f"{VAR} must be set"):
        env_str(VAR)


def test_env_secret_uses_the_local_default_while_debugging(monkeypatch):
    monkeypatch.setenv("DEBUG", "1")
    assert env_secret(VAR, "local") == "local"


@pytest.mark.parametrize("debug_off", [None, "0", "false", "no"])
def test_env_secret_refuses_the_default_when_debug_is_off(monkeypatch, debug_off):
    if debug_off is not None:  # None: DEBUG unset, which means off
        monkeypatch.setenv("DEBUG", debug_off)
    with pytest.raises(ImproperlyConfigured, match=f"{VAR} must be set when DEBUG is off"):
        env_secret(VAR, "local")
    monkeypatch.setenv(VAR, "")  # empty is not a secret either
    with pytest.raises(ImproperlyConfigured, match=VAR):
        env_secret(VAR, "local")
    monkeypatch.setenv(VAR, "s3cret")
    assert env_secret(VAR, "local") == "s3cret"


def test_service_settings_name_everything_after_the_service(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example:6543/food_x")
    monkeypatch.delenv("STATIC_ROOT", raising=False)
    values = service_settings("orders", database="food_orders")
    assert values["SERVICE_NAME"] == "orders"
    assert values["ROOT_URLCONF"] == "orders_config.urls"
    assert values["STATIC_URL"] == "/static/orders/"
    assert values["SESSION_COOKIE_NAME"] == "orders_sessionid"
    assert values["CSRF_COOKIE_NAME"] == "orders_csrftoken"
    assert values["CACHES"]["default"]["KEY_PREFIX"] == "orders"
    assert values["CELERY_TASK_DEFAULT_QUEUE"] == "orders"
    assert values["STATIC_ROOT"].endswith("var/static/orders")
    db = values["DATABASES"]["default"]
    assert (db["HOST"], db["PORT"], db["NAME"], db["USER"]) == ("db.example", 6543, "food_x", "u")
    assert db["OPTIONS"]["connect_timeout"] == 3
    assert "DATABASES" not in service_settings("gateway", database=None)


def _settings_base_in_a_fresh_process(**env) -> subprocess.CompletedProcess:
    """Import settings_base where DEBUG and SECRET_KEY are only what `env` says."""
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "SECRET_KEY")}
    return subprocess.run(
        [sys.executable, "-c", "from food_common import settings_base as s; print(s.DEBUG)"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_debug_is_off_unless_set():
    assert _settings_base_in_a_fresh_process(SECRET_KEY="a-real-one").stdout == "False\n"
    assert _settings_base_in_a_fresh_process(DEBUG="1").stdout == "True\n"


def test_without_debug_the_local_secret_key_is_refused():
    result = _settings_base_in_a_fresh_process()
    assert result.returncode == 1
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr

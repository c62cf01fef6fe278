"""Management commands: preflight (one clear line, or ok), ensure_database, ensure_local_admin."""

import os
import subprocess
import sys
import uuid
from io import StringIO
from pathlib import Path

import dj_database_url
import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from psycopg import sql

from tests.conftest import closed_port

COMMON_DIR = Path(__file__).resolve().parents[1]
# The server of the tests' database (the machine's, or bin/embedded.py's private one).
TESTS_DATABASE = "postgres://postgres@127.0.0.1:5432/food_common_tests"
SERVER_URL = os.environ.get("COMMON_DATABASE_URL", TESTS_DATABASE).rsplit("/", 1)[0]


def start(*args: str, database_url: str) -> subprocess.Popen:
    """Start `python -m django <args>` with the tests' settings, as a service would start."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url}
    return subprocess.Popen(
        [sys.executable, "-m", "django", *args],
        cwd=COMMON_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def database_exists(name: str) -> bool:
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


def drop_database(name: str) -> None:
    with psycopg.connect(f"{SERVER_URL}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture(scope="module")
def commands():
    """Start this module's commands together (each costs a Django start-up); drop what they made."""
    down = f"postgres://postgres@127.0.0.1:{closed_port()}/food_x"
    fresh = f"food_common_tests_{uuid.uuid4().hex[:12]}"
    assert not database_exists(fresh)
    started = {
        "down_url": down,
        "fresh_name": fresh,
        "preflight_down": start("preflight", database_url=down),
        "preflight_up": start("preflight", database_url=f"{SERVER_URL}/postgres"),
        "ensure_fresh": start("ensure_database", database_url=f"{SERVER_URL}/{fresh}"),
    }
    yield started
    for process in started.values():
        if isinstance(process, subprocess.Popen) and process.poll() is None:
            process.kill()
            process.wait()
    drop_database(fresh)


def port_of(url: str) -> str:
    return url.rsplit(":", 1)[1].split("/")[0]


def test_preflight_says_in_one_line_that_the_database_does_not_answer(commands):
    result = finish(commands["preflight_down"])
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("common: cannot start: database does not answer (error: ")
    assert port_of(commands["down_url"]) in lines[0]
    assert "Is PostgreSQL running and DATABASE_URL right?" in lines[0]


def test_preflight_passes_when_everything_answers(commands):
    result = finish(commands["preflight_up"])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "common: preflight ok (database, redis)"
    assert result.stderr == ""


def test_ensure_database_creates_a_missing_database(commands):
    name = commands["fresh_name"]
    created = finish(commands["ensure_fresh"])
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == f"common: created database {name}"
    assert database_exists(name)


def database_settings(url: str) -> dict:
    return {"default": dj_database_url.parse(url)}


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_ensure_database_leaves_an_existing_database_alone(settings):
    name = f"food_common_tests_{uuid.uuid4().hex[:12]}"
    settings.DATABASES = database_settings(f"{SERVER_URL}/{name}")
    try:
        out = StringIO()
        call_command("ensure_database", stdout=out)
        assert out.getvalue().strip() == f"common: created database {name}"
        out = StringIO()
        call_command("ensure_database", stdout=out)
        assert out.getvalue() == ""
        assert database_exists(name)
    finally:
        drop_database(name)


@pytest.mark.filterwarnings("ignore:Overriding setting DATABASES")
def test_ensure_database_says_when_postgres_does_not_answer(settings):
    port = closed_port()
    settings.DATABASES = database_settings(f"postgres://postgres@127.0.0.1:{port}/food_x")
    err = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("ensure_database", stderr=err)
    assert exited.value.code == 1
    message = err.getvalue().strip()
    assert message.startswith(f"common: PostgreSQL at 127.0.0.1:{port} does not answer (")
    assert message.endswith("Start it with `make services`.")
    assert len(message.splitlines()) == 1


@pytest.mark.django_db
def test_ensure_local_admin_creates_the_superuser_once(monkeypatch):
    monkeypatch.setenv("LOCAL_ADMIN_EMAIL", "boss@example.com")
    monkeypatch.delenv("LOCAL_ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("LOCAL_ADMIN_USERNAME", raising=False)
    monkeypatch.setenv("DEBUG", "1")  # a local run (`make up`): the default password is allowed
    out = StringIO()
    call_command("ensure_local_admin", stdout=out)
    assert out.getvalue().strip() == "created local admin admin"
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert admin.email == "boss@example.com"
    assert admin.check_password("admin")

    out = StringIO()
    call_command("ensure_local_admin", stdout=out)
    assert out.getvalue().strip() == "local admin admin exists"
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_ensure_local_admin_refuses_the_default_password_when_debug_is_off(monkeypatch):
    monkeypatch.setenv("DEBUG", "0")
    monkeypatch.delenv("LOCAL_ADMIN_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="LOCAL_ADMIN_PASSWORD must be set"):
        call_command("ensure_local_admin", stdout=StringIO())
    assert get_user_model().objects.count() == 0

"""The admins and Flower stay off the public port unless turned on, and never with a default password."""

import importlib
import subprocess
from pathlib import Path

import pytest
from django.core import checks
from django.urls import clear_url_caches

from food_common.testing import admin_tour
from gateway.checks import check_operator_surface_passwords
from gateway.routes import resolve

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def production(settings, monkeypatch):
    """DEBUG off, both surfaces on, both passwords real: the check passes; each test spoils one."""
    settings.DEBUG = False
    settings.GATEWAY_PROXY_ADMIN = True
    settings.GATEWAY_PROXY_FLOWER = True
    monkeypatch.setenv("DEBUG", "0")
    monkeypatch.setenv("FLOWER_PASSWORD", "a-real-flower-password")
    monkeypatch.setenv("LOCAL_ADMIN_PASSWORD", "a-real-admin-password")
    return settings


def error_ids() -> list[str]:
    return [error.id for error in check_operator_surface_passwords(None)]


def test_admins_and_flower_are_off_the_gateway_by_default(monkeypatch):
    import gateway_config.settings as module

    monkeypatch.delenv("GATEWAY_PROXY_ADMIN", raising=False)
    monkeypatch.delenv("GATEWAY_PROXY_FLOWER", raising=False)
    try:
        importlib.reload(module)
        assert module.GATEWAY_PROXY_ADMIN is False
        assert module.GATEWAY_PROXY_FLOWER is False
    finally:
        monkeypatch.undo()
        importlib.reload(module)


def reload_urls() -> None:
    import gateway_config.urls

    import gateway.urls

    importlib.reload(gateway.urls)
    importlib.reload(gateway_config.urls)
    clear_url_caches()


@pytest.mark.parametrize(("enabled", "status"), [(False, 404), (True, 302)])
def test_the_gateway_admin_is_served_only_when_turned_on(client, settings, enabled, status):
    original = settings.GATEWAY_PROXY_ADMIN
    settings.GATEWAY_PROXY_ADMIN = enabled
    try:
        reload_urls()
        assert client.get("/admin/gateway/").status_code == status
    finally:
        settings.GATEWAY_PROXY_ADMIN = original
        reload_urls()


def test_the_index_of_every_admin_links_them_docs_and_flower(client, settings):
    original = settings.GATEWAY_PROXY_ADMIN, settings.GATEWAY_PROXY_FLOWER
    settings.GATEWAY_PROXY_ADMIN = settings.GATEWAY_PROXY_FLOWER = True
    try:
        reload_urls()
        page = client.get("/admin/")
        assert page.status_code == 200
        html = page.content.decode()
        for project in ("gateway", "auth", "catalog", "orders", "payments", "delivery"):
            assert f'href="/admin/{project}/"' in html
        assert 'href="/docs"' in html and 'href="/flower/"' in html
        # The gateway's own admin is titled after it, and "View site" leads back to the index.
        login = client.get("/admin/gateway/login/").content.decode()
        assert "Food · gateway" in login
    finally:
        settings.GATEWAY_PROXY_ADMIN, settings.GATEWAY_PROXY_FLOWER = original
        reload_urls()


@pytest.mark.django_db
def test_every_page_of_the_gateway_admin_renders(admin_client, settings):
    original = settings.GATEWAY_PROXY_ADMIN
    settings.GATEWAY_PROXY_ADMIN = True
    try:
        reload_urls()
        tour = admin_tour(admin_client, "gateway")
    finally:
        settings.GATEWAY_PROXY_ADMIN = original
        reload_urls()
    assert tour.problems == []
    assert tour.records == []
    assert "/admin/gateway/auth/user/" in tour.pages


def test_real_passwords_pass(production):
    assert error_ids() == []


@pytest.mark.parametrize("password", [None, "", "admin"])
def test_flower_with_a_default_or_empty_password_is_refused(production, monkeypatch, password):
    if password is None:
        monkeypatch.delenv("FLOWER_PASSWORD")
    else:
        monkeypatch.setenv("FLOWER_PASSWORD", password)
    assert error_ids() == ["gateway.E001"]


@pytest.mark.parametrize("password", [None, "", "admin"])
def test_admins_with_a_default_or_empty_password_are_refused(production, monkeypatch, password):
    if password is None:
        monkeypatch.delenv("LOCAL_ADMIN_PASSWORD")
    else:
        monkeypatch.setenv("LOCAL_ADMIN_PASSWORD", password)
    assert error_ids() == ["gateway.E002"]


def test_default_passwords_pass_when_the_surfaces_are_off(production, monkeypatch):
    production.GATEWAY_PROXY_ADMIN = False
    production.GATEWAY_PROXY_FLOWER = False
    monkeypatch.setenv("FLOWER_PASSWORD", "admin")
    monkeypatch.delenv("LOCAL_ADMIN_PASSWORD")
    assert error_ids() == []
    assert resolve("GET", "/admin/catalog/") is None
    assert resolve("GET", "/flower/") is None


def test_default_passwords_pass_with_debug_on(production, monkeypatch):
    production.DEBUG = True
    monkeypatch.setenv("DEBUG", "1")
    monkeypatch.setenv("FLOWER_PASSWORD", "admin")
    monkeypatch.setenv("LOCAL_ADMIN_PASSWORD", "admin")
    assert error_ids() == []


def test_the_check_is_registered_so_preflight_refuses(production, monkeypatch):
    monkeypatch.setenv("FLOWER_PASSWORD", "admin")
    serious = [issue.id for issue in checks.run_checks() if issue.is_serious()]
    assert "gateway.E001" in serious


def run_flower(tmp_path, **env) -> subprocess.CompletedProcess:
    """Run bin/flower with a stand-in `celery` that says it started instead of starting."""
    (tmp_path / "celery").write_text("#!/bin/sh\necho celery started\n")
    (tmp_path / "celery").chmod(0o755)
    return subprocess.run(
        [str(ROOT / "bin" / "flower")],
        env={"PATH": f"{tmp_path}:/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )


@pytest.mark.parametrize(
    "env",
    [
        {},  # DEBUG unset means off
        {"DEBUG": "0"},
        {"DEBUG": "false", "FLOWER_PASSWORD": ""},
        {"DEBUG": "0", "FLOWER_PASSWORD": "admin"},
    ],
)
def test_flower_refuses_to_start_with_debug_off_and_a_default_password(tmp_path, env):
    result = run_flower(tmp_path, **env)
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("flower: cannot start: FLOWER_PASSWORD")


@pytest.mark.parametrize(
    "env",
    [{"DEBUG": "0", "FLOWER_PASSWORD": "a-real-one"}, {"FLOWER_PASSWORD": "x"}, {"DEBUG": "1"}],
)
def test_flower_starts_with_a_real_password_or_debug_on(tmp_path, env):
    result = run_flower(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "celery started\n"

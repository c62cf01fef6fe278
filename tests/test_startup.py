"""Misconfiguration is said in one clear line, at start where it can be, not as a stack trace or a
confusing 401 later."""

import subprocess

from tests.stack import ROOT, Process, free_port, wait_until_up


def run_serve(stack, service: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(ROOT / "bin" / "serve"), service, str(free_port())],
        env={**stack.env(service), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def last_line(result: subprocess.CompletedProcess) -> str:
    return (result.stderr.strip() or result.stdout.strip()).splitlines()[-1]


def test_malformed_signing_key_stops_auth_with_one_line(stack, tmp_path):
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    result = run_serve(stack, "auth", JWT_PRIVATE_KEY_FILE=str(bad_key))
    assert result.returncode != 0
    assert last_line(result).startswith("auth: cannot start:"), result.stderr
    assert "key" in last_line(result).lower()
    assert "Traceback" not in result.stderr


def test_unreachable_database_stops_a_service_with_one_line(stack):
    closed = free_port()
    result = run_serve(stack, "orders", DATABASE_URL=f"postgres://postgres@127.0.0.1:{closed}/x")
    assert result.returncode != 0
    line = last_line(result)
    assert line.startswith("orders: cannot start: database does not answer"), line
    assert "Traceback" not in result.stderr


def test_unreachable_jwks_gives_503_json_naming_it_not_401(stack, api, customer, tmp_path):
    port = free_port()
    closed = free_port()
    process = Process(
        "orders-nojwks",
        [str(ROOT / "bin" / "serve"), "orders", str(port)],
        {**stack.env("orders"), "JWT_JWKS_URL": f"http://127.0.0.1:{closed}/jwks.json"},
        tmp_path / "orders-nojwks.log",
    ).start()
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", process)
        reply = api.get("/orders", token=customer["access"], base_url=f"http://127.0.0.1:{port}")
        assert reply.status == 503, reply
        assert reply.json()["code"] == "auth_keys_unavailable"
        assert f"127.0.0.1:{closed}" in reply.json()["detail"]
    finally:
        process.stop()

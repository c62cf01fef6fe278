"""The client address a throttle counts: the first X-Forwarded-For hop no trusted proxy wrote.

The session's auth allows 1,000 logins a minute per address (other tests log in all the time), so
these tests start an auth of their own with the production rate (20 a minute), on a Redis database
of its own, behind a gateway of their own, with NUM_PROXIES as a deployment sets it: 1 behind the
gateway (local, compose), 2 behind an ingress controller and the gateway (Kubernetes).
"""

import json
import uuid

import pytest
import urllib3

from tests.client import PASSWORD
from tests.stack import ROOT, Process, free_port, wait_until_up

LOGIN_RATE_PER_IP = 20


@pytest.fixture(scope="module", params=[1, 2], ids=["gateway-only", "ingress-and-gateway"])
def login_gateway(request, stack):
    """Return (gateway URL, NUM_PROXIES) of an auth with the production login rate behind a gateway."""
    num_proxies = request.param
    auth_port, gateway_port = free_port(), free_port()
    settings = {
        "NUM_PROXIES": str(num_proxies),
        "LOGIN_RATE_PER_IP": f"{LOGIN_RATE_PER_IP}/min",
        # Throttle counters of their own (the session's auth counts in database 1).
        "REDIS_URL": f"redis://127.0.0.1:{stack.redis_port}/{2 + num_proxies}",
        "GATEWAY_METRICS_PORT": "0",
    }
    auth = Process(
        f"login-auth-{num_proxies}",
        [str(ROOT / "bin" / "serve"), "auth", str(auth_port)],
        {**stack.env("auth"), **settings},
        stack.logs / f"login-auth-{num_proxies}.log",
    )
    gateway = Process(
        f"login-gateway-{num_proxies}",
        [str(ROOT / "bin" / "serve"), "gateway", str(gateway_port)],
        {**stack.env("gateway"), **settings, "AUTH_SERVICE_URLS": f"http://127.0.0.1:{auth_port}"},
        stack.logs / f"login-gateway-{num_proxies}.log",
    )
    try:
        auth.start()
        gateway.start()
        wait_until_up(f"http://127.0.0.1:{auth_port}/health", auth)
        wait_until_up(f"http://127.0.0.1:{gateway_port}/health", gateway)
        yield f"http://127.0.0.1:{gateway_port}", num_proxies
    finally:
        gateway.stop()
        auth.stop()


def login(http: urllib3.PoolManager, url: str, email: str, password: str, forwarded_for=None):
    headers = {"Content-Type": "application/json"}
    if forwarded_for:
        headers["X-Forwarded-For"] = forwarded_for
    body = json.dumps({"email": email, "password": password}).encode()
    return http.request("POST", f"{url}/auth/login", body=body, headers=headers).status


def test_bad_logins_from_one_address_do_not_lock_out_another(api, login_gateway):
    url, num_proxies = login_gateway
    victim = f"victim-{uuid.uuid4().hex[:10]}@example.com"
    api.register_and_login(victim)
    timeout = urllib3.Timeout(connect=2, read=15)
    attacker = urllib3.PoolManager(retries=False, timeout=timeout)
    attacker_forwarded = "203.0.113.5"
    if num_proxies == 1:
        # Behind the gateway only: the client is the gateway's peer. The attacker's own
        # X-Forwarded-For stays in front of the peer the gateway appends, and counts for nothing;
        # the other client connects from another loopback address (all of 127/8 is local on Linux).
        other = urllib3.PoolManager(retries=False, timeout=timeout, source_address=("127.0.0.2", 0))
        other_forwarded = None
        spoofed_again = "198.51.100.7"
    else:
        # Behind an ingress controller too: it sets X-Forwarded-For to the client it sees, as
        # these requests do, and the gateway appends the controller (here: this process).
        other, other_forwarded = attacker, "198.51.100.7"
        spoofed_again = None  # the controller overwrites whatever the client sent

    # Given: one address fails to log in 25 times (random accounts: no per-email lockout)
    statuses = [
        login(
            attacker,
            url,
            f"nobody-{i}-{uuid.uuid4().hex[:6]}@example.com",
            "wrong",
            attacker_forwarded,
        )
        for i in range(25)
    ]
    # Then: that address is throttled after the allowed rate...
    assert statuses[:LOGIN_RATE_PER_IP] == [401] * LOGIN_RATE_PER_IP, statuses
    assert set(statuses[LOGIN_RATE_PER_IP:]) == {429}, statuses
    if spoofed_again:  # ... and cannot get out by writing another X-Forwarded-For
        assert login(attacker, url, victim, "wrong", spoofed_again) == 429
    # ... but another client logs in.
    assert login(other, url, victim, PASSWORD, other_forwarded) == 200

"""A small HTTP client for the cross-service tests (urllib3, JSON in and out)."""

import json
import time
import uuid

import urllib3

PASSWORD = "a-Long-enough-passw0rd"


class Reply:
    def __init__(self, response: urllib3.BaseHTTPResponse):
        self.status = response.status
        self.headers = response.headers
        self.body = response.data

    def json(self):
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.body[:300]!r}>"


class Api:
    def __init__(self, base_url: str):
        self.base_url = base_url
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=15))

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body=None,
        token=None,
        headers=None,
        body=None,
        base_url=None,
    ) -> Reply:
        send = {"Accept": "application/json", **(headers or {})}
        if token:
            send["Authorization"] = f"Bearer {token}"
        if json_body is not None:
            body = json.dumps(json_body).encode()
        if body is not None:
            send.setdefault("Content-Type", "application/json")
        return Reply(
            self.http.request(method, (base_url or self.base_url) + path, body=body, headers=send)
        )

    def get(self, path, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path, json_body=None, **kw) -> Reply:
        return self.request("POST", path, json_body=json_body, **kw)

    def register_and_login(
        self, email: str, role: str = "customer", password: str = PASSWORD
    ) -> dict:
        reply = self.post("/auth/register", {"email": email, "password": password, "role": role})
        assert reply.status == 201, reply
        reply = self.post("/auth/login", {"email": email, "password": password})
        assert reply.status == 200, reply
        return {"email": email, "password": password, **reply.json()}


def waits_on_lock(conn, table: str) -> bool:
    """True once another session waits for a lock on `table` (the worker is blocked mid-task)."""
    return bool(
        conn.execute(
            "SELECT 1 FROM pg_locks WHERE relation = %s::regclass AND NOT granted", [table]
        ).fetchone()
    )


def wait_for(predicate, timeout: float = 20, interval: float = 0.3, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


def order_body(menu, quantity: int = 2) -> dict:
    return {
        "restaurant_id": menu["restaurant"]["id"],
        "items": [
            {"menu_item_id": menu["dishes"][0]["id"], "quantity": quantity},
            {"menu_item_id": menu["dishes"][1]["id"], "quantity": 1},
        ],
        "delivery_address": "10 Home St",
        "delivery_lat": 52.53,
        "delivery_lon": 13.40,
    }


def unique(prefix: str) -> str:
    """Return an email address no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


def open_kitchen(
    api: Api, at: tuple[float, float], *, dish: str = "Souvlaki", price: str = "8.00"
) -> dict:
    """A new restaurant owner with an open restaurant at `at` and one dish:
    {owner, restaurant, dish, at}."""
    owner = api.register_and_login(unique("owner"), role="restaurant_owner")
    reply = api.post(
        "/restaurants",
        {
            "name": f"Kitchen {uuid.uuid4().hex[:6]}",
            "cuisine": "greek",
            "address": "1 Harbour Rd",
            "lat": at[0],
            "lon": at[1],
            "is_open": True,
        },
        token=owner["access"],
    )
    assert reply.status == 201, reply
    restaurant = reply.json()
    reply = api.post(
        f"/restaurants/{restaurant['id']}/menu",
        {"name": dish, "category": "main", "price": price, "currency": "EUR"},
        token=owner["access"],
    )
    assert reply.status == 201, reply
    return {"owner": owner, "restaurant": restaurant, "dish": reply.json(), "at": at}

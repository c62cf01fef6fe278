"""The README's restaurant walkthrough, through the gateway against the real catalog copies."""

import uuid


def test_readme_restaurant_walkthrough(api, customer):
    owner = api.register_and_login(
        f"owner-{uuid.uuid4().hex[:8]}@example.com", role="restaurant_owner"
    )
    created = api.post(
        "/restaurants",
        {
            "name": f"Trattoria {uuid.uuid4().hex[:6]}",
            "cuisine": "italian",
            "address": "1 Main St",
            "lat": 52.52,
            "lon": 13.41,
            "is_open": True,
        },
        token=owner["access"],
    )
    assert created.status == 201, created
    restaurant_id = created.json()["id"]

    item = api.post(
        f"/restaurants/{restaurant_id}/menu",
        {"name": "Margherita", "category": "pizza", "price": "9.50", "currency": "EUR"},
        token=owner["access"],
    )
    assert item.status == 201, item

    # The list is cached: a miss, then a hit (both catalog copies share Redis).
    first = api.get("/restaurants?cuisine=italian")
    second = api.get("/restaurants?cuisine=italian")
    assert first.headers["X-Cache"] in ("MISS", "HIT") and second.headers["X-Cache"] == "HIT"
    assert (
        restaurant_id in [r["id"] for r in second.json()["results"]] or second.json()["count"] > 20
    )

    detail = api.get(f"/restaurants/{restaurant_id}")
    assert [m["name"] for m in detail.json()["menu"]] == ["Margherita"]

    # A write is visible on the very next read, whichever copy answers it.
    patched = api.request(
        "PATCH",
        f"/restaurants/{restaurant_id}",
        json_body={"is_open": False},
        token=owner["access"],
    )
    assert patched.status == 200, patched
    for _ in range(4):
        fresh = api.get(f"/restaurants/{restaurant_id}")
        assert fresh.json()["is_open"] is False
        assert fresh.headers["X-Cache"] in ("MISS", "HIT")

    # The pricing read the orders service uses: just the asked items, plus the owner.
    menu = api.get(f"/restaurants/{restaurant_id}/menu?ids={item.json()['id']}").json()
    assert menu["restaurant"]["owner_id"] == created.json()["owner_id"]
    assert [m["price"] for m in menu["results"]] == ["9.50"]

    # A customer cannot write; an anonymous caller is stopped at the gateway.
    assert api.post("/restaurants", {"name": "Nope"}, token=customer["access"]).status == 403
    anonymous = api.post("/restaurants", {"name": "Nope"})
    assert anonymous.status == 401 and anonymous.json()["code"] == "not_authenticated"


def test_bad_catalog_input_is_400_json_through_the_gateway(api):
    owner = api.register_and_login(
        f"owner-{uuid.uuid4().hex[:8]}@example.com", role="restaurant_owner"
    )
    created = api.post(
        "/restaurants",
        {"name": "Prices", "cuisine": "thai", "address": "2 Side St", "lat": 52.5, "lon": 13.4},
        token=owner["access"],
    )
    assert created.status == 201, created
    for price in ("-1.00", "abc", "0"):
        reply = api.post(
            f"/restaurants/{created.json()['id']}/menu",
            {"name": f"Dish {price}", "category": "main", "price": price, "currency": "EUR"},
            token=owner["access"],
        )
        assert reply.status == 400 and "price" in reply.json()["errors"], reply
    assert api.get("/restaurants?page=99999999").status in (400, 404)
    assert api.get("/restaurants?cuisine=martian").status == 400

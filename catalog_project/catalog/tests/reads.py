"""Read the list and the detail through the API, the way the cache tests compare them."""

from catalog.models import Restaurant


def list_names(client, **params) -> tuple[list[str], str]:
    response = client.get("/restaurants", params)
    assert response.status_code == 200, response.content
    assert type(response["X-Cache"]) is str  # a str subclass breaks real WSGI servers
    return [r["name"] for r in response.json()["results"]], response["X-Cache"]


def detail(client, restaurant_id: int) -> tuple[dict, str]:
    response = client.get(f"/restaurants/{restaurant_id}")
    return (response.json() if response.status_code == 200 else None), response.get("X-Cache")


def menu_names(body: dict) -> list[str]:
    return [item["name"] for item in body["menu"]]


def snapshot(client, restaurant_id):
    """Read the list and the detail twice, so both are cached; return the cached view."""
    list_names(client)
    detail(client, restaurant_id)
    names, list_status = list_names(client)
    body, detail_status = detail(client, restaurant_id)
    assert (list_status, detail_status) == ("HIT", "HIT")
    return names, body


def fresh(client, restaurant_id):
    """Return what the database holds now, checking the next reads serve exactly that."""
    names, _ = list_names(client)
    body, _ = detail(client, restaurant_id)
    expected_names = list(Restaurant.objects.values_list("name", flat=True))
    assert names == expected_names
    restaurant = Restaurant.objects.filter(pk=restaurant_id).first()
    if restaurant is None:
        assert body is None
    else:
        assert body["name"] == restaurant.name
        assert menu_names(body) == [
            i.name for i in restaurant.menu_items.order_by("category", "name")
        ]
    return names, body

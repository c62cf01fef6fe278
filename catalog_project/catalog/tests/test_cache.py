"""The list and detail cache: hits run no query, every write is visible on the next read, no race
re-caches stale rows, and a Redis outage degrades to database reads.

Tests that need `transaction.on_commit` to fire use real transactions (`transaction=True`).
"""

import socket
import threading

import pytest
from django.core.cache import cache
from django.db import connections, transaction
from django.db.models import QuerySet
from django.test.utils import CaptureQueriesContext

from catalog import selectors, services
from catalog.models import MenuItem, Restaurant
from catalog.tests.factories import MenuItemFactory, RestaurantFactory
from catalog.tests.reads import detail, fresh, list_names, menu_names, snapshot

transactional = pytest.mark.django_db(transaction=True)


def in_thread(function):
    """Run `function` in another thread (so on its own database connection) and return its result."""
    result = {}

    def run():
        try:
            result["value"] = function()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    return result["value"]


@pytest.mark.django_db
def test_list_is_cached_per_filter_and_page(api_client):
    RestaurantFactory.create_batch(3)

    assert list_names(api_client)[1] == "MISS"
    assert list_names(api_client)[1] == "HIT"
    assert list_names(api_client, cuisine="italian")[1] == "MISS"
    assert list_names(api_client, cuisine="italian")[1] == "HIT"
    # Keyed by the query string as sent (so a hit skips validation): ?page=1 is its own entry.
    assert list_names(api_client, page=1)[1] == "MISS"
    assert list_names(api_client, page=1)[1] == "HIT"


@pytest.mark.django_db
def test_cached_list_read_runs_no_query(api_client, django_assert_num_queries):
    RestaurantFactory.create_batch(3)
    list_names(api_client, search="rest")

    with django_assert_num_queries(0):
        assert list_names(api_client, search="rest")[1] == "HIT"


@pytest.mark.django_db
def test_cached_detail_read_runs_no_query(api_client, django_assert_num_queries):
    restaurant = RestaurantFactory()
    MenuItemFactory.create_batch(3, restaurant=restaurant)
    detail(api_client, restaurant.id)

    with django_assert_num_queries(0):
        assert detail(api_client, restaurant.id)[1] == "HIT"


@pytest.mark.django_db
def test_a_miss_runs_the_same_queries_whatever_the_number_of_rows(api_client):
    def queries_of_a_miss(read) -> int:
        cache.delete_pattern("*")  # this test's keys only (the pattern carries its prefix)
        with CaptureQueriesContext(connections["default"]) as captured:
            assert read()[1] == "MISS"
        return len(captured)

    small = RestaurantFactory()
    MenuItemFactory.create_batch(2, restaurant=small)
    few = queries_of_a_miss(lambda: list_names(api_client, is_open="true"))
    few_items = queries_of_a_miss(lambda: detail(api_client, small.id))
    big = RestaurantFactory()
    MenuItemFactory.create_batch(40, restaurant=big)
    RestaurantFactory.create_batch(40)
    many = queries_of_a_miss(lambda: list_names(api_client, is_open="true"))
    many_items = queries_of_a_miss(lambda: detail(api_client, big.id))

    assert few == many == 2  # count + page
    assert few_items == many_items == 2  # restaurant + its menu


# Each write as (method, path, body), on restaurant r with menu item i.
API_WRITES = {
    "create restaurant": (
        "post",
        "/restaurants",
        {"name": "AAA New", "cuisine": "thai", "address": "1 Rd", "lat": 52.5, "lon": 13.4},
    ),
    "update restaurant": ("patch", "/restaurants/{r}", {"name": "AAA Renamed"}),
    "delete restaurant": ("delete", "/restaurants/{r}", None),
    "create item": ("post", "/restaurants/{r}/menu", {"name": "New Dish", "price": "5"}),
    "update item": ("patch", "/restaurants/{r}/menu/{i}", {"name": "Renamed Dish"}),
    "delete item": ("delete", "/restaurants/{r}/menu/{i}", None),
}


@transactional
@pytest.mark.parametrize("write", API_WRITES)
def test_api_writes_are_visible_on_the_next_read(api_client, owner, write):
    restaurant = RestaurantFactory(name="BBB")
    item = MenuItemFactory(restaurant=restaurant, name="Old Dish")
    before = snapshot(api_client, restaurant.id)
    method, path, body = API_WRITES[write]

    response = getattr(owner, method)(path.format(r=restaurant.id, i=item.id), body, format="json")

    assert response.status_code in (200, 201, 204)
    assert fresh(api_client, restaurant.id) != before


@transactional
def test_shell_edits_are_visible_on_the_next_read(api_client):
    restaurant = RestaurantFactory(name="BBB")
    item = MenuItemFactory(restaurant=restaurant, name="Old Dish")

    before = snapshot(api_client, restaurant.id)
    item.name = "Shell Dish"
    item.save()
    after_item = fresh(api_client, restaurant.id)
    restaurant.refresh_from_db()
    restaurant.is_open = False
    restaurant.save()
    list_names(api_client)
    assert detail(api_client, restaurant.id)[0]["is_open"] is False
    Restaurant.objects.filter(pk=restaurant.pk).delete()  # QuerySet.delete() sends signals too

    assert after_item != before
    assert fresh(api_client, restaurant.id) == ([], None)


@transactional
def test_a_rolled_back_write_leaves_the_cache_alone(api_client):
    restaurant = RestaurantFactory()
    snapshot(api_client, restaurant.id)

    with pytest.raises(RuntimeError), transaction.atomic():
        services.restaurant_update(restaurant=restaurant, data={"name": "Never"})
        raise RuntimeError

    assert list_names(api_client)[1] == "HIT"
    assert detail(api_client, restaurant.id)[1] == "HIT"


@transactional
def test_a_read_during_an_open_write_transaction_is_not_served_after_the_commit(api_client):
    restaurant = RestaurantFactory(name="Old Name")
    MenuItemFactory(restaurant=restaurant, name="Old Dish")

    with transaction.atomic():
        # Given a write that is not committed yet
        services.restaurant_update(restaurant=restaurant, data={"name": "New Name"})
        MenuItem.objects.get().delete()
        # when a reader on another connection reads (and caches) the committed rows
        stale_list = in_thread(lambda: list_names(api_client))
        stale_detail = in_thread(lambda: detail(api_client, restaurant.id))
    # then, once the write commits, the next reads see it.
    assert stale_list == (["Old Name"], "MISS")
    assert (stale_detail[0]["name"], menu_names(stale_detail[0])) == ("Old Name", ["Old Dish"])
    assert list_names(api_client) == (["New Name"], "MISS")
    body, status = detail(api_client, restaurant.id)
    assert (body["name"], body["menu"], status) == ("New Name", [], "MISS")


@transactional
@pytest.mark.parametrize("read", ["list", "detail"])
def test_a_reader_that_stores_stale_rows_after_the_invalidation_is_never_served(
    api_client, monkeypatch, read
):
    """The reader queries before the write commits but stores its result after the invalidation."""
    restaurant = RestaurantFactory(name="Old Name")
    queried, write_done = threading.Event(), threading.Event()
    selector = "restaurant_list" if read == "list" else "restaurant_get"
    original = getattr(selectors, selector)

    def query_then_wait_for_the_write(**kwargs):
        result = original(**kwargs)
        result = list(result) if isinstance(result, QuerySet) else result  # read the rows now
        queried.set()
        assert write_done.wait(timeout=10)
        return result

    monkeypatch.setattr(selectors, selector, query_then_wait_for_the_write)
    stale_read = (
        (lambda: list_names(api_client))
        if read == "list"
        else (lambda: detail(api_client, restaurant.id))
    )
    reader = threading.Thread(target=lambda: (stale_read(), connections.close_all()))

    # Given a reader that has read the old row and has not stored it yet
    reader.start()
    assert queried.wait(timeout=10)
    # when a write commits (and invalidates) before the reader stores its stale result
    services.restaurant_update(restaurant=restaurant, data={"name": "New Name"})
    write_done.set()
    reader.join(timeout=10)
    monkeypatch.undo()

    # then the next read does not see the stale entry.
    if read == "list":
        assert list_names(api_client) == (["New Name"], "MISS")
    else:
        body, status = detail(api_client, restaurant.id)
        assert (body["name"], status) == ("New Name", "MISS")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def redis_down(settings):
    location = f"redis://127.0.0.1:{closed_port()}/0"
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": location}}


@pytest.mark.django_db
def test_reads_bypass_the_cache_when_redis_is_down(api_client, redis_down):
    restaurant = RestaurantFactory(name="Still Here")

    assert list_names(api_client) == (["Still Here"], "BYPASS")
    body, status = detail(api_client, restaurant.id)
    assert (body["name"], status) == ("Still Here", "BYPASS")


@transactional
def test_writes_succeed_when_redis_is_down(owner, redis_down, caplog):
    created = owner.post(
        "/restaurants",
        {"name": "Offline", "cuisine": "thai", "address": "1 Rd", "lat": 52.5, "lon": 13.4},
        format="json",
    )
    restaurant_id = created.json()["id"]
    item = owner.post(
        f"/restaurants/{restaurant_id}/menu", {"name": "Dish", "price": "3"}, format="json"
    )
    patched = owner.patch(f"/restaurants/{restaurant_id}", {"is_open": False}, format="json")
    deleted = owner.delete(f"/restaurants/{restaurant_id}")

    assert (created.status_code, item.status_code, patched.status_code, deleted.status_code) == (
        201,
        201,
        200,
        204,
    )
    assert "cache invalidation failed" in caplog.text


@pytest.mark.django_db
def test_cache_can_be_turned_off(api_client, settings):
    settings.CATALOG_CACHE_ENABLED = False
    RestaurantFactory()
    for _ in range(2):
        reply = api_client.get("/restaurants")
        assert reply.status_code == 200 and reply["X-Cache"] == "OFF"

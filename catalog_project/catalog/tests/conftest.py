import itertools
import uuid

import pytest
from django.core.cache import caches

from catalog.cache import CACHE_ERRORS
from catalog.tests.factories import ADMIN, CUSTOMER, OWNER_A, OWNER_B
from food_common.authentication import ROLE_ADMIN, ROLE_CUSTOMER, ROLE_RESTAURANT_OWNER

pytest.register_assert_rewrite("catalog.tests.reads")

RUN_PREFIX = f"catalog-test-{uuid.uuid4().hex[:8]}"
_test_numbers = itertools.count()


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """Give each test its own key prefix in the shared Redis, and delete its keys afterwards."""
    prefix = f"{RUN_PREFIX}-{next(_test_numbers)}"
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": prefix}}
    test_cache = caches["default"]
    yield
    try:
        test_cache.delete_pattern("*")  # only this test's keys: the pattern carries the prefix
    except CACHE_ERRORS:
        pass


@pytest.fixture
def customer(api_client_as):
    return api_client_as(CUSTOMER, ROLE_CUSTOMER)


@pytest.fixture
def owner_a(api_client_as):
    return api_client_as(OWNER_A, ROLE_RESTAURANT_OWNER)


@pytest.fixture
def owner_b(api_client_as):
    return api_client_as(OWNER_B, ROLE_RESTAURANT_OWNER)


@pytest.fixture
def admin(api_client_as):
    return api_client_as(ADMIN, ROLE_ADMIN)

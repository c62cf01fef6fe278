import pytest

from food_common.authentication import ROLE_ADMIN, ROLE_CUSTOMER, ROLE_RESTAURANT_OWNER
from orders import clients
from orders.tests.factories import (
    ADMIN,
    CUSTOMER,
    OTHER_CUSTOMER,
    OTHER_OWNER,
    OTHER_RESTAURANT,
    OWNER,
    RESTAURANT,
)
from orders.tests.fakes import FakeCatalog


@pytest.fixture
def catalog(monkeypatch) -> FakeCatalog:
    """The catalog every order in the test is priced by: two restaurants and a small menu."""
    fake = FakeCatalog()
    fake.add_restaurant(RESTAURANT, owner_id=OWNER)
    fake.add_restaurant(OTHER_RESTAURANT, owner_id=OTHER_OWNER)
    fake.add_item(RESTAURANT, 1, "Margherita", "9.50")
    fake.add_item(RESTAURANT, 2, "Tiramisu", "4.25")
    fake.add_item(RESTAURANT, 3, "Lemonade", "2.99")
    fake.add_item(RESTAURANT, 4, "Truffle pasta", "18.00", is_available=False)
    fake.add_item(RESTAURANT, 5, "Imported ale", "3.50", currency="GBP")
    fake.add_item(OTHER_RESTAURANT, 9, "Ramen", "12.00")
    monkeypatch.setattr(clients, "catalog_client", lambda: fake)
    return fake


@pytest.fixture
def no_relay(monkeypatch):
    """Committed events stay in the outbox instead of going to the shared Redis broker.

    Relaying is the shared package's business (tested there); it only runs on commit, so only
    tests with real transactions (django_db(transaction=True)) need this.
    """
    sent = []

    def relay(event):
        sent.append(event)
        return True

    monkeypatch.setattr("food_common.events.bus.relay", relay)
    return sent


@pytest.fixture
def customer(api_client_as):
    return api_client_as(CUSTOMER, ROLE_CUSTOMER)


@pytest.fixture
def other_customer(api_client_as):
    return api_client_as(OTHER_CUSTOMER, ROLE_CUSTOMER)


@pytest.fixture
def owner(api_client_as):
    return api_client_as(OWNER, ROLE_RESTAURANT_OWNER)


@pytest.fixture
def other_owner(api_client_as):
    return api_client_as(OTHER_OWNER, ROLE_RESTAURANT_OWNER)


@pytest.fixture
def admin(api_client_as):
    return api_client_as(ADMIN, ROLE_ADMIN)


@pytest.fixture(autouse=True)
def _static_files_looked_up_lazily(settings):
    """Every test client loads the middleware: WhiteNoise would rescan STATIC_ROOT each time."""
    settings.WHITENOISE_AUTOREFRESH = True

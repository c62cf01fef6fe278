import pytest

from orders import clients
from orders.tests.factories import (
    OTHER_OWNER,
    OTHER_PICKUP,
    OTHER_RESTAURANT,
    OWNER,
    PICKUP,
    RESTAURANT,
)
from orders.tests.fakes import FakeCatalog, FakeDelivery


@pytest.fixture
def catalog(monkeypatch) -> FakeCatalog:
    """The catalog every order in the test is priced by: two restaurants and a small menu."""
    fake = FakeCatalog()
    fake.add_restaurant(RESTAURANT, owner_id=OWNER, position=PICKUP)
    fake.add_restaurant(OTHER_RESTAURANT, owner_id=OTHER_OWNER, position=OTHER_PICKUP)
    fake.add_item(RESTAURANT, 1, "Margherita", "9.50")
    fake.add_item(RESTAURANT, 2, "Tiramisu", "4.25")
    fake.add_item(RESTAURANT, 3, "Lemonade", "2.99")
    fake.add_item(RESTAURANT, 4, "Truffle pasta", "18.00", is_available=False)
    fake.add_item(RESTAURANT, 5, "Imported ale", "3.50", currency="GBP")
    fake.add_item(OTHER_RESTAURANT, 9, "Ramen", "12.00")
    monkeypatch.setattr(clients, "catalog_client", lambda: fake)
    return fake


@pytest.fixture(autouse=True)
def delivery(monkeypatch) -> FakeDelivery:
    """The delivery service every order's detail asks where its rider is (no rider anywhere)."""
    fake = FakeDelivery()
    monkeypatch.setattr(clients, "delivery_client", lambda: fake)
    return fake


@pytest.fixture(autouse=True)
def _static_files_looked_up_lazily(settings):
    """Every test client loads the middleware: WhiteNoise would rescan STATIC_ROOT each time."""
    settings.WHITENOISE_AUTOREFRESH = True

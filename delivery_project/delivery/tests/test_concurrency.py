"""Concurrent dispatches, answers and assignments never double-book a rider (real threads, each
with its own database connection)."""

from collections import Counter

import pytest
from django.db import IntegrityError, transaction

from delivery import services
from delivery.errors import RiderBusy
from delivery.models import (
    ACTIVE_STATUSES,
    Delivery,
    DeliveryOffer,
    DeliveryStatus,
    OfferStatus,
)
from delivery.tests.factories import PICKUP, DeliveryFactory, north_of
from food_common.errors import DomainError
from food_common.testing import run_together

pytestmark = pytest.mark.django_db(transaction=True)

DELIVERIES, RIDERS = 20, 5


def assert_nobody_double_booked() -> None:
    active = Counter(
        Delivery.objects.filter(status__in=ACTIVE_STATUSES).values_list("rider_id", flat=True)
    )
    pending = Counter(
        DeliveryOffer.objects.filter(status=OfferStatus.PENDING).values_list("rider_id", flat=True)
    )
    assert all(n == 1 for n in active.values()), active
    assert all(n == 1 for n in pending.values()), pending
    assert not set(active) & set(pending), "a rider with a delivery was offered another"
    assert all(
        n == 1
        for n in Counter(
            DeliveryOffer.objects.filter(status=OfferStatus.PENDING).values_list(
                "delivery_id", flat=True
            )
        ).values()
    )


def answering(call):
    """Return a call that answers its result, or the code of the domain error it raised."""

    def run():
        try:
            return call()
        except DomainError as exc:
            return exc.code

    return run


def test_twenty_deliveries_dispatched_at_once_to_five_riders_never_double_book(working_rider):
    # Given five riders around a restaurant and twenty deliveries ready at the same moment
    riders = [working_rider(north_of(PICKUP, 0.3 * (i + 1))) for i in range(RIDERS)]
    deliveries = [DeliveryFactory(order_id=100 + i) for i in range(DELIVERIES)]

    # When all twenty are dispatched at once
    offers = run_together(
        [lambda d=d: services.delivery_dispatch(delivery_id=d.pk) for d in deliveries]
    )

    # Then each rider got one offer, and no rider two
    made = [o for o in offers if o is not None]
    assert len(made) == RIDERS
    assert sorted(o.rider_id for o in made) == sorted(r.pk for r in riders)
    assert_nobody_double_booked()

    # When, round after round, the riders answer and deliver while every delivery still
    # searching is dispatched again at the same time
    for _ in range(3 * DELIVERIES):
        pending = list(
            DeliveryOffer.objects.filter(status=OfferStatus.PENDING).select_related("rider")
        )
        under_way = list(
            Delivery.objects.filter(status__in=ACTIVE_STATUSES).select_related("rider")
        )
        searching = Delivery.objects.filter(status=DeliveryStatus.SEARCHING)
        if not (pending or under_way or searching.exists()):
            break
        calls = [
            answering(
                lambda o=o: services.offer_accept(
                    delivery_id=o.delivery_id, user_id=o.rider.user_id
                )
            )
            for o in pending
        ]
        calls += [
            answering(
                lambda d=d: (
                    services.delivery_pickup
                    if d.status == DeliveryStatus.ASSIGNED
                    else services.delivery_deliver
                )(delivery_id=d.pk, user_id=d.rider.user_id)
            )
            for d in under_way
        ]
        calls += [
            answering(lambda pk=pk: services.delivery_dispatch(delivery_id=pk))
            for pk in searching.values_list("pk", flat=True)
        ]
        run_together(calls)
        assert_nobody_double_booked()

    # Then every delivery reached its customer, each by exactly one rider who accepted it
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}
    accepted = DeliveryOffer.objects.filter(status=OfferStatus.ACCEPTED)
    assert accepted.count() == DELIVERIES
    assert Counter(accepted.values_list("delivery_id", flat=True)) == Counter(
        d.pk for d in deliveries
    )
    for delivery in Delivery.objects.all():
        assert delivery.offers.get(status=OfferStatus.ACCEPTED).rider_id == delivery.rider_id


def test_two_admins_assigning_one_rider_at_once_give_them_one_delivery(working_rider):
    rider = working_rider(PICKUP)
    first, second = DeliveryFactory(order_id=1), DeliveryFactory(order_id=2)

    answers = run_together(
        [
            answering(lambda d=d: services.delivery_assign(delivery_id=d.pk, rider_id=rider.pk))
            for d in (first, second) * 4
        ]
    )

    codes = Counter(a if isinstance(a, str) else "assigned" for a in answers)
    assert codes["assigned"] == 1 and set(codes) <= {
        "assigned",
        "rider_busy",
        "delivery_wrong_status",
    }
    assert Delivery.objects.filter(rider=rider, status=DeliveryStatus.ASSIGNED).count() == 1


def test_the_database_refuses_a_second_active_delivery_or_pending_offer_for_a_rider(
    working_rider,
):
    # Whatever the code above does, the constraints hold.
    rider = working_rider(PICKUP)
    DeliveryFactory(order_id=1, status=DeliveryStatus.ASSIGNED, rider=rider)
    second = DeliveryFactory(order_id=2)
    DeliveryOffer.objects.create(
        delivery=second, rider=rider, expires_at=second.created_at, radius_km=3, distance_km=0
    )
    third = DeliveryFactory(order_id=3)

    with pytest.raises(IntegrityError, match="delivery_one_active_per_rider"), transaction.atomic():
        Delivery.objects.filter(pk=third.pk).update(status=DeliveryStatus.PICKED_UP, rider=rider)
    with pytest.raises(IntegrityError, match="delivery_offer_one_pending_per_rider"):
        with transaction.atomic():
            DeliveryOffer.objects.create(
                delivery=third, rider=rider, expires_at=third.created_at, radius_km=3, distance_km=0
            )
    other = working_rider(north_of(PICKUP, 1))
    with pytest.raises(IntegrityError, match="delivery_offer_one_pending_per_delivery"):
        with transaction.atomic():
            DeliveryOffer.objects.create(
                delivery=second,
                rider=other,
                expires_at=second.created_at,
                radius_km=3,
                distance_km=0,
            )
    with pytest.raises(IntegrityError, match="delivery_order_id_key|unique"):
        with transaction.atomic():
            DeliveryFactory(order_id=1)
    with pytest.raises(IntegrityError, match="delivery_rider_matches_status"):
        with transaction.atomic():
            DeliveryFactory(order_id=4, status=DeliveryStatus.SEARCHING, rider=other)
    with pytest.raises(IntegrityError, match="delivery_pickup_valid"):
        with transaction.atomic():
            DeliveryFactory(order_id=5, pickup_lat=89.0)


def test_when_the_check_misses_a_busy_rider_the_constraint_answers_409(working_rider, monkeypatch):
    rider = working_rider(PICKUP)
    DeliveryFactory(order_id=1, status=DeliveryStatus.ASSIGNED, rider=rider)
    waiting = DeliveryFactory(order_id=2)
    # As if a concurrent assignment had committed between the check and the UPDATE
    monkeypatch.setattr("delivery.positions.rider_is_busy", lambda rider_id: False)

    with pytest.raises(RiderBusy):
        services.delivery_assign(delivery_id=waiting.pk, rider_id=rider.pk)

    assert Delivery.objects.get(pk=waiting.pk).status == DeliveryStatus.SEARCHING

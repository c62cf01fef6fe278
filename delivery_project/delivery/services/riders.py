"""Rider profiles: created by the rider, verified by an admin, made available by the rider.

Every change is written through to the rider's dispatch state in Redis once it commits
(delivery.positions), so the location hot path never reads the database for it.
"""

import logging

from django.db import IntegrityError, transaction

from delivery import positions
from delivery.errors import RiderNotFound, RiderNotVerified, RiderProfileExists, RiderProfileMissing
from delivery.models import Rider

logger = logging.getLogger(__name__)

EDITABLE_FIELDS = ("name", "phone", "vehicle_type", "available")


@transaction.atomic
def rider_create(*, user_id: int, name: str, phone: str, vehicle_type: str) -> Rider:
    """Create the caller's rider profile (not verified, not available); raise RiderProfileExists."""
    try:
        with transaction.atomic():
            rider = Rider.objects.create(
                user_id=user_id, name=name, phone=phone, vehicle_type=vehicle_type
            )
    except IntegrityError:
        if Rider.objects.filter(user_id=user_id).exists():
            raise RiderProfileExists() from None
        raise
    positions.rider_state_refresh(user_id=user_id)
    logger.info("rider %s created for user %s", rider.pk, user_id)
    return rider


@transaction.atomic
def rider_update(*, user_id: int, **changes) -> Rider:
    """Change the caller's profile (name, phone, vehicle_type, available); return it.

    Raise RiderProfileMissing (404), and RiderNotVerified (403) for a rider not verified yet
    who asks to be available. A pending offer stays until it is answered or expires.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise TypeError(f"not editable: {sorted(unknown)}")
    rider = Rider.objects.select_for_update().filter(user_id=user_id).first()
    if rider is None:
        raise RiderProfileMissing()
    if changes.get("available") and not rider.verified:
        raise RiderNotVerified()
    for field, value in changes.items():
        setattr(rider, field, value)
    if changes:
        rider.save(update_fields=list(changes))
        positions.rider_state_refresh(user_id=user_id)
    return rider


@transaction.atomic
def rider_verify(*, rider_id: int) -> Rider:
    """Mark a rider verified (an admin); idempotent. Raise RiderNotFound."""
    rider = Rider.objects.select_for_update().filter(pk=rider_id).first()
    if rider is None:
        raise RiderNotFound()
    if not rider.verified:
        rider.verified = True
        rider.save(update_fields=["verified"])
        positions.rider_state_refresh(user_id=rider.user_id)
        logger.info("rider %s verified", rider.pk)
    return rider

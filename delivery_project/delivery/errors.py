"""Domain errors of the delivery service, each with its code (one JSON shape: food_common.errors)."""

import math

from rest_framework import status

from food_common.errors import Conflict, DomainError, ErrorCode, NotFound


class DeliveryErrorCode:
    RIDER_PROFILE_MISSING = "rider_profile_missing"
    RIDER_PROFILE_EXISTS = "rider_profile_exists"
    RIDER_NOT_VERIFIED = "rider_not_verified"
    RIDER_BUSY = "rider_busy"
    OFFER_NOT_PENDING = "offer_not_pending"
    OFFER_EXPIRED = "offer_expired"
    DELIVERY_WRONG_STATUS = "delivery_wrong_status"


class RiderProfileMissing(NotFound):
    default_code = DeliveryErrorCode.RIDER_PROFILE_MISSING
    default_detail = "You have no rider profile yet: create it with POST /riders/me."


class RiderProfileExists(Conflict):
    default_code = DeliveryErrorCode.RIDER_PROFILE_EXISTS
    default_detail = "You already have a rider profile."


class RiderNotVerified(DomainError):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = DeliveryErrorCode.RIDER_NOT_VERIFIED
    default_detail = "Your rider profile is not verified yet: an admin must verify it first."


class AssigneeNotVerified(Conflict):
    default_code = DeliveryErrorCode.RIDER_NOT_VERIFIED
    default_detail = "This rider is not verified yet: verify them before assigning a delivery."


class RiderNotFound(NotFound):
    default_detail = "Rider not found."


class RiderBusy(Conflict):
    default_code = DeliveryErrorCode.RIDER_BUSY
    default_detail = "This rider already holds an active delivery."


class DeliveryNotFound(NotFound):
    default_detail = "Delivery not found."


class DeliveryWrongStatus(Conflict):
    default_code = DeliveryErrorCode.DELIVERY_WRONG_STATUS
    default_detail = "The delivery's status does not allow this."


class OfferNotPending(Conflict):
    default_code = DeliveryErrorCode.OFFER_NOT_PENDING
    default_detail = "This offer was already answered, expired or withdrawn."


class OfferExpired(Conflict):
    default_code = DeliveryErrorCode.OFFER_EXPIRED
    default_detail = "This offer has expired."


class LocationTooFrequent(DomainError):
    """429 with Retry-After (whole seconds, rounded up) and the precise `retry_after`."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    default_code = ErrorCode.THROTTLED
    default_detail = "Location updates come too fast; see Retry-After."

    def __init__(self, retry_after: float):
        super().__init__(retry_after=round(retry_after, 3))
        self.wait = max(1, math.ceil(retry_after))  # DRF's handler turns it into Retry-After

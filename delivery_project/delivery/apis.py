"""HTTP API of delivery: riders' profiles and positions, their offers, and the deliveries."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from delivery import positions, selectors, services
from delivery.serializers import (
    AssignInputSerializer,
    DeliveryAdminSerializer,
    DeliveryConflictSerializer,
    DeliveryFilterSerializer,
    DeliveryPageSerializer,
    DeliverySerializer,
    LocationInputSerializer,
    OfferPageSerializer,
    OfferSerializer,
    PageQuerySerializer,
    RiderAdminSerializer,
    RiderCreateInputSerializer,
    RiderFilterSerializer,
    RiderPageSerializer,
    RiderSerializer,
    RiderUpdateInputSerializer,
    ThrottledSerializer,
)
from food_common.authentication import ROLE_ADMIN, ROLE_RIDER, HasRole
from food_common.events.trail import TrailPartView
from food_common.schema import ErrorSerializer
from food_common.serializers import page_response, validated

RETRY_AFTER = OpenApiParameter(
    "Retry-After",
    OpenApiTypes.INT,
    OpenApiParameter.HEADER,
    description="Whole seconds to wait before the next update (rounded up).",
    response=[429],
)


def _error(description: str, serializer=ErrorSerializer) -> OpenApiResponse:
    return OpenApiResponse(serializer, description=description)


NO_PROFILE = "`rider_profile_missing`: the caller has no rider profile yet (POST /riders/me)."


def _delivery_response(delivery) -> Response:
    selectors.with_rider_positions([delivery])
    return Response(DeliverySerializer(delivery).data)


# -- riders -------------------------------------------------------------------------------------


class RiderMeApi(APIView):
    permission_classes = [HasRole.of(ROLE_RIDER)]

    @extend_schema(
        operation_id="riders_me_retrieve",
        summary="The caller's rider profile, with their last position (rider)",
        responses={200: RiderSerializer, 404: _error(NO_PROFILE)},
    )
    def get(self, request):
        return Response(RiderSerializer(selectors.rider_get_own(user_id=request.user.id)).data)

    @extend_schema(
        operation_id="riders_me_create",
        summary="Create the caller's rider profile (rider)",
        description=(
            "A new profile is neither verified nor available: an admin verifies it "
            "(`POST /riders/{id}/verify`), then the rider goes on shift with "
            '`PATCH /riders/me {"available": true}`.'
        ),
        request=RiderCreateInputSerializer,
        responses={
            201: RiderSerializer,
            409: _error("`rider_profile_exists`: the caller has one already."),
        },
    )
    def post(self, request):
        data = validated(RiderCreateInputSerializer, request.data)
        services.rider_create(user_id=request.user.id, **data)
        rider = selectors.rider_get_own(user_id=request.user.id)
        return Response(RiderSerializer(rider).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="riders_me_partial_update",
        summary="Change the caller's profile, or go on or off shift (rider)",
        description=(
            "`available: true` puts a verified rider in line for offers (from their next "
            "location update on); `false` takes them out (a pending offer stays until answered "
            "or expired)."
        ),
        request=RiderUpdateInputSerializer,
        responses={
            200: RiderSerializer,
            403: _error(
                "`rider_not_verified`: only a verified rider may be available; or the caller is "
                "not a rider (`permission_denied`)."
            ),
            404: _error(NO_PROFILE),
        },
    )
    def patch(self, request):
        data = validated(RiderUpdateInputSerializer, request.data)
        services.rider_update(user_id=request.user.id, **data)
        return Response(RiderSerializer(selectors.rider_get_own(user_id=request.user.id)).data)


class RiderLocationApi(APIView):
    """The hot path: one Redis round trip, no database access (delivery.positions)."""

    permission_classes = [HasRole.of(ROLE_RIDER)]

    @extend_schema(
        operation_id="riders_me_location_update",
        summary="Report the caller's position (rider, every few seconds)",
        description=(
            "Stores the position as the rider's live one (what dispatch searches and what the "
            "customer sees); the rider's row gets it within `RIDER_POSITION_FLUSH_SECONDS`. "
            "Updates closer together than `RIDER_LOCATION_MIN_INTERVAL` seconds (default 1) "
            "answer 429 with `Retry-After`."
        ),
        request=LocationInputSerializer,
        parameters=[RETRY_AFTER],
        responses={
            204: OpenApiResponse(description="Stored."),
            400: _error(
                "`invalid`: `lat` and `lon` must be JSON numbers, finite, |lat| ≤ 85.05112878, "
                "|lon| ≤ 180."
            ),
            403: _error(
                "`rider_not_verified`: the rider's profile is not verified yet; or the caller "
                "is not a rider (`permission_denied`)."
            ),
            404: _error(NO_PROFILE),
            429: _error("`throttled`: too soon after the previous update.", ThrottledSerializer),
        },
    )
    def put(self, request):
        data = validated(LocationInputSerializer, request.data)
        positions.location_record(user_id=request.user.id, lat=data["lat"], lon=data["lon"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class RiderOffersApi(APIView):
    permission_classes = [HasRole.of(ROLE_RIDER)]

    @extend_schema(
        operation_id="riders_me_offers_list",
        summary="The caller's pending offers, with when each runs out (rider)",
        description=(
            "At most one: accept it with `POST /deliveries/{delivery_id}/accept` or decline it "
            "with `.../decline` before `expires_at`, after which it goes to the next rider."
        ),
        parameters=[PageQuerySerializer],
        responses={200: OfferPageSerializer},
    )
    def get(self, request):
        validated(PageQuerySerializer, request.query_params.dict())
        return page_response(
            self, selectors.offers_pending(user_id=request.user.id), OfferSerializer
        )


class RiderListApi(APIView):
    permission_classes = [HasRole.of(ROLE_ADMIN)]

    @extend_schema(
        operation_id="riders_list",
        summary="Every rider, newest first (admin)",
        parameters=[RiderFilterSerializer],
        responses={200: RiderPageSerializer},
    )
    def get(self, request):
        query = validated(RiderFilterSerializer, request.query_params.dict())
        riders = selectors.rider_list(verified=query["verified"], available=query["available"])
        return page_response(self, riders, RiderAdminSerializer)


class RiderVerifyApi(APIView):
    permission_classes = [HasRole.of(ROLE_ADMIN)]

    @extend_schema(
        operation_id="riders_verify",
        summary="Verify a rider, who may then work (admin)",
        request=None,
        responses={200: RiderAdminSerializer, 404: _error("No such rider.")},
    )
    def post(self, request, rider_id: int):
        return Response(RiderAdminSerializer(services.rider_verify(rider_id=rider_id)).data)


# -- deliveries ---------------------------------------------------------------------------------


class DeliveryListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="deliveries_list",
        summary="The deliveries the caller may see, newest first",
        description=(
            "The order's customer, the restaurant's owner, the rider (and the rider it is "
            "offered to right now) and admins see a delivery; `?order_id=` gives an order's."
        ),
        parameters=[DeliveryFilterSerializer],
        responses={200: DeliveryPageSerializer},
    )
    def get(self, request):
        query = validated(DeliveryFilterSerializer, request.query_params.dict())
        deliveries = selectors.delivery_list(user=request.user, order_id=query.get("order_id"))
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        selectors.with_rider_positions(page)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)


class DeliveryDetailApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="deliveries_retrieve",
        summary="One delivery: status, rider, live position (admins: offers and timeline too)",
        responses={
            200: DeliveryAdminSerializer,
            404: _error("No such delivery, or not one the caller may see."),
        },
    )
    def get(self, request, delivery_id: int):
        delivery = selectors.delivery_get(user=request.user, delivery_id=delivery_id)
        serializer = DeliveryAdminSerializer if request.user.is_admin else DeliverySerializer
        return Response(serializer(delivery).data)


def _step(
    operation_id: str, summary: str, description: str, conflicts: str, answer=DeliverySerializer
):
    return extend_schema(
        operation_id=operation_id,
        summary=summary,
        description=description,
        request=None,
        responses={
            200: answer,
            403: _error("The caller is not a rider."),
            404: _error("No such delivery, or not the caller's (offer or assignment)."),
            409: _error(conflicts, DeliveryConflictSerializer),
        },
    )


class DeliveryAcceptApi(APIView):
    permission_classes = [HasRole.of(ROLE_RIDER)]

    @_step(
        "deliveries_accept",
        "Accept the delivery offered to the caller (rider)",
        "The delivery is the rider's (ASSIGNED). Event: `delivery.assigned`.",
        "`offer_not_pending` (answered, expired or withdrawn; `offer_status`), "
        "`offer_expired` (`expires_at`), `rider_busy`.",
    )
    def post(self, request, delivery_id: int):
        delivery = services.offer_accept(delivery_id=delivery_id, user_id=request.user.id)
        return _delivery_response(delivery)


class DeliveryDeclineApi(APIView):
    permission_classes = [HasRole.of(ROLE_RIDER)]

    @_step(
        "deliveries_decline",
        "Decline the delivery offered to the caller (rider)",
        "It is offered to the next rider at once; this rider is not asked again for it. The "
        "answer is the DECLINED offer.",
        "`offer_not_pending` (`offer_status`).",
        answer=OfferSerializer,
    )
    def post(self, request, delivery_id: int):
        offer = services.offer_decline(delivery_id=delivery_id, user_id=request.user.id)
        return Response(OfferSerializer(offer).data)


class DeliveryPickupApi(APIView):
    permission_classes = [HasRole.of(ROLE_RIDER)]

    @_step(
        "deliveries_pickup",
        "The caller picked the food up (the assigned rider)",
        "ASSIGNED → PICKED_UP. Event: `delivery.picked_up`.",
        "`delivery_wrong_status` (`delivery_status`).",
    )
    def post(self, request, delivery_id: int):
        delivery = services.delivery_pickup(delivery_id=delivery_id, user_id=request.user.id)
        return _delivery_response(delivery)


class DeliveryDeliverApi(APIView):
    permission_classes = [HasRole.of(ROLE_RIDER)]

    @_step(
        "deliveries_deliver",
        "The caller handed the food over (the assigned rider)",
        "PICKED_UP → DELIVERED; the rider is free for the next offer. Event: `delivery.delivered`.",
        "`delivery_wrong_status` (`delivery_status`).",
    )
    def post(self, request, delivery_id: int):
        delivery = services.delivery_deliver(delivery_id=delivery_id, user_id=request.user.id)
        return _delivery_response(delivery)


class DeliveryAssignApi(APIView):
    permission_classes = [HasRole.of(ROLE_ADMIN)]

    @extend_schema(
        operation_id="deliveries_assign",
        summary="Give a searching or unassigned delivery to a rider by hand (admin)",
        description=(
            "The rider must be verified and free (no active delivery, no pending offer of "
            "another delivery); a pending offer of this delivery is withdrawn. Event: "
            "`delivery.assigned`."
        ),
        request=AssignInputSerializer,
        responses={
            200: DeliveryAdminSerializer,
            404: _error("No such delivery or rider."),
            409: _error(
                "`delivery_wrong_status` (`delivery_status`), `rider_busy`, `rider_not_verified`.",
                DeliveryConflictSerializer,
            ),
        },
    )
    def post(self, request, delivery_id: int):
        data = validated(AssignInputSerializer, request.data)
        services.delivery_assign(
            delivery_id=delivery_id,
            rider_id=data["rider_id"],
            by_user_id=request.user.id,
            reason=data.get("reason", ""),
        )
        delivery = selectors.delivery_get(user=request.user, delivery_id=delivery_id)
        return Response(DeliveryAdminSerializer(delivery).data)


class OrderTrailPartApi(TrailPartView):
    """The delivery part of an order's trail, for the orders service (internal, signed)."""

    def part(self, *, event_ids, order_id: int) -> dict:
        return selectors.order_trail_part(order_id=order_id, event_ids=event_ids)

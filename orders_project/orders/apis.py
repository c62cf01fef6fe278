"""HTTP API of orders: customers place and cancel, restaurant owners move orders along, all read."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from food_common.authentication import ROLE_ADMIN, ROLE_CUSTOMER, ROLE_RESTAURANT_OWNER, HasRole
from food_common.idempotency import HEADER as IDEMPOTENCY_HEADER
from food_common.idempotency import MAX_KEY_LENGTH, idempotency_key_from
from food_common.schema import error_responses
from food_common.serializers import page_response, validated
from orders import selectors, services, trail
from orders.serializers import (
    OrderCancelInputSerializer,
    OrderDetailSerializer,
    OrderErrorSerializer,
    OrderFilterSerializer,
    OrderPageSerializer,
    OrderPlaceInputSerializer,
    OrderSerializer,
    OrderStatusInputSerializer,
    OrderTrailSerializer,
    OrderTransitionErrorSerializer,
)

IDEMPOTENCY_KEY = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=False,
    description=(
        f"Optional, 1 to {MAX_KEY_LENGTH} printable characters (surrounding spaces dropped), "
        "unique per customer; a blank or longer one answers 400 `idempotency_key_invalid`. "
        "Repeating a request with the same key and the same body answers 200 with the order the "
        "first request created (no second order); the same key with a different body answers 422 "
        "`idempotency_key_reused` (with the first order's `order_id`)."
    ),
)


def _errors(*statuses: int) -> dict:
    return error_responses(*statuses, serializer=OrderErrorSerializer)


INVALID_TRANSITION = OpenApiResponse(
    OrderTransitionErrorSerializer,
    description="`invalid_transition`: the order's status does not allow this move.",
)


def _detail(request, order_id: int) -> Response:
    order = selectors.order_get(user=request.user, order_id=order_id)
    position = selectors.order_rider_position(order=order, token=request.auth)
    return Response(OrderDetailSerializer(order, context={"rider_position": position}).data)


class OrderListApi(APIView):
    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAuthenticated(), HasRole.of(ROLE_CUSTOMER)()]
        return [IsAuthenticated()]

    @extend_schema(
        operation_id="orders_list",
        summary="The caller's orders, newest first",
        description=(
            "Customers see their own orders, restaurant owners the orders of their restaurants, "
            "admins every order."
        ),
        parameters=[OrderFilterSerializer],
        responses={200: OrderPageSerializer, **_errors(400, 401, 404)},
    )
    def get(self, request):
        query = validated(OrderFilterSerializer, request.query_params.dict())
        orders = selectors.order_list(user=request.user, status=query.get("status"))
        return page_response(self, orders, OrderSerializer)

    @extend_schema(
        operation_id="orders_create",
        summary="Place an order (customers)",
        description=(
            "Prices come from the catalog at this moment, never from the client; the total is "
            "computed by the server. 201 with the new order (status PLACED); 200 with the same "
            "order when an `Idempotency-Key` request is repeated. 400 names the wrong field or "
            'line (`errors.items` is keyed by the line\'s index: `{"items": {"2": {"menu_item_id": '
            "[...]}}}`), with code `restaurant_not_found`, `restaurant_closed`, "
            "`restaurant_without_position` (a restaurant created before restaurants had positions: "
            "no rider could find it), `menu_items_invalid` (unknown, unavailable, or another "
            "currency), "
            "`idempotency_key_invalid` or `invalid`. 503 when the catalog cannot be reached (no "
            "order is created)."
        ),
        parameters=[IDEMPOTENCY_KEY],
        request=OrderPlaceInputSerializer,
        responses={
            201: OpenApiResponse(OrderDetailSerializer, description="The order was placed."),
            200: OpenApiResponse(
                OrderDetailSerializer,
                description="A repeated Idempotency-Key request: the order the first one placed.",
            ),
            **_errors(400, 401, 403, 422, 502, 503),
        },
    )
    def post(self, request):
        idempotency_key = idempotency_key_from(request.headers, required=False)
        data = validated(OrderPlaceInputSerializer, request.data)
        order, created = services.order_place(
            customer_id=request.user.id,
            customer_email=request.user.email,
            restaurant_id=data["restaurant_id"],
            items=data["items"],
            delivery_address=data["delivery_address"],
            delivery_lat=data["delivery_lat"],
            delivery_lon=data["delivery_lon"],
            idempotency_key=idempotency_key,
            token=request.auth,
        )
        if created:  # the new order carries its items and history: no need to read it back
            return Response(OrderDetailSerializer(order).data, status=status.HTTP_201_CREATED)
        return _detail(request, order.pk)


class OrderDetailApi(APIView):
    @extend_schema(
        operation_id="orders_retrieve",
        summary="One order with its items, status history and delivery",
        description=(
            "Its customer, its restaurant's owner and admins; anyone else gets 404. `delivery` is "
            "null until the order is READY and the delivery service opened one; then its status "
            "and rider as its events told, and the rider's last position read from the delivery "
            "service with the caller's token (null when it does not answer: the order is shown "
            "all the same)."
        ),
        responses={200: OrderDetailSerializer, **_errors(401, 404)},
    )
    def get(self, request, order_id: int):
        return _detail(request, order_id)


class OrderCancelApi(APIView):
    @extend_schema(
        operation_id="orders_cancel",
        summary="Cancel an order (its customer, its restaurant's owner, admins)",
        description=(
            "Allowed while the order is PLACED, PAYMENT_FAILED, PAID or ACCEPTED (so a customer "
            "can cancel until the kitchen starts PREPARING); when it is READY, only to its "
            "restaurant's owner and admins (its rider, if one has it, is freed), and once the "
            "rider picked it up (OUT_FOR_DELIVERY) only to admins: anyone else gets 409 "
            "`invalid_transition`. A paid order is then refunded by the payments service "
            "(`order.cancelled` with `was_paid`). Anyone who may not see the order gets 404."
        ),
        request=OrderCancelInputSerializer,
        responses={
            200: OrderDetailSerializer,
            **_errors(400, 401, 404),
            409: INVALID_TRANSITION,
        },
    )
    def post(self, request, order_id: int):
        selectors.order_check_visible(user=request.user, order_id=order_id)
        data = validated(OrderCancelInputSerializer, request.data)
        services.order_cancel(
            order_id=order_id,
            by_user_id=request.user.id,
            by_role=request.user.role,
            reason=data["reason"],
        )
        return _detail(request, order_id)


class OrderStatusApi(APIView):
    permission_classes = [IsAuthenticated, HasRole.of(ROLE_RESTAURANT_OWNER, ROLE_ADMIN)]

    @extend_schema(
        operation_id="orders_status",
        summary="Move an order to its next kitchen status (its restaurant's owner, admins)",
        description=(
            "PAID → ACCEPTED → PREPARING → READY, one step at a time; any other move is 409 "
            "`invalid_transition`. READY publishes `order.ready`, which opens the order's delivery; "
            "the rider's pickup and hand-over move it on to OUT_FOR_DELIVERY and DELIVERED (a "
            "`status` of DELIVERED is a 400). Customers get 403; owners of other restaurants 404."
        ),
        request=OrderStatusInputSerializer,
        responses={
            200: OrderDetailSerializer,
            **_errors(400, 401, 403, 404),
            409: INVALID_TRANSITION,
        },
    )
    def post(self, request, order_id: int):
        selectors.order_check_visible(user=request.user, order_id=order_id)
        data = validated(OrderStatusInputSerializer, request.data)
        services.order_advance(
            order_id=order_id, to_status=data["status"], by_user_id=request.user.id
        )
        return _detail(request, order_id)


class OrderTrailApi(APIView):
    permission_classes = [IsAuthenticated, HasRole.of(ROLE_ADMIN)]

    @extend_schema(
        operation_id="orders_trail",
        summary="An order's whole story across services (admins)",
        description=(
            "Every event about the order from every service (orders, payments, delivery) with its "
            "request id, send attempts and its consumers as the event contract lists them "
            "(handled when and by which handler, dead-lettered, or still waiting, with the "
            "task's page in Flower); one timeline, oldest first, of those events and of each "
            "service's records (status history, notifications, payments and refunds, the "
            "delivery); the request ids it happened under; and `problems`, what looks stuck now. "
            "A service that does not answer leaves its part out, named in `unavailable`. The "
            "order's admin page shows the same. Customers and restaurant owners get 403."
        ),
        responses={200: OrderTrailSerializer, **_errors(401, 403, 404)},
    )
    def get(self, request, order_id: int):
        return Response(trail.order_trail(order_id=order_id))

"""HTTP API of payments: customers pay their orders and read their payments; admins refund."""

import json

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from food_common.authentication import ROLE_ADMIN, ROLE_CUSTOMER, HasRole
from food_common.events.trail import TrailPartView
from food_common.idempotency import HEADER as IDEMPOTENCY_HEADER
from food_common.idempotency import REPLAYED_HEADER, idempotency_key_from, request_fingerprint
from food_common.serializers import page_response, validated
from payments import idempotency, selectors, services
from payments.errors import Retryable
from payments.models import PaymentStatus
from payments.serializers import (
    ErrorSerializer,
    PaymentConflictSerializer,
    PaymentCreateInputSerializer,
    PaymentErrorSerializer,
    PaymentFilterSerializer,
    PaymentPageSerializer,
    PaymentSerializer,
    RefundInputSerializer,
)

IDEMPOTENCY_KEY = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=True,
    description=(
        "A unique value per payment attempt (a UUID), at most 255 characters. A retry with the "
        "same key and body gets the first answer again (same status and body, with "
        "`Idempotent-Replayed: true`) for 24 hours, and is never charged twice; the same key with "
        "another body answers 422 `idempotency_key_reused`, and one whose first request is still "
        "running answers 409 `idempotency_key_in_use`."
    ),
)
REPLAYED = OpenApiParameter(
    REPLAYED_HEADER,
    str,
    OpenApiParameter.HEADER,
    response=[201, 402, 404, 409, 502, 504],  # the answers that are saved, so replayed
    enum=["true"],
    description="Present when the answer is the saved answer to this Idempotency-Key's first use.",
)


def _error(description: str, serializer=ErrorSerializer) -> OpenApiResponse:
    return OpenApiResponse(serializer, description=description)


class PaymentListApi(APIView):
    def get_permissions(self):
        if self.request.method == "POST":
            return [HasRole.of(ROLE_CUSTOMER)()]
        return [IsAuthenticated()]

    @extend_schema(
        operation_id="payments_list",
        summary="The caller's payments (an admin's: everyone's), newest first",
        parameters=[PaymentFilterSerializer],
        responses={
            200: PaymentPageSerializer,
            400: _error("Invalid query parameter (`order_id` must be a positive integer)."),
            401: _error("No valid access token."),
        },
    )
    def get(self, request):
        # A plain dict, not the QueryDict (whose repeated keys would hide a second value).
        query = validated(PaymentFilterSerializer, request.query_params.dict())
        payments = selectors.payment_list(user=request.user, order_id=query.get("order_id"))
        return page_response(self, payments, PaymentSerializer)

    @extend_schema(
        operation_id="payments_create",
        summary="Pay one of the caller's orders by card (customer)",
        description=(
            "Charges the order's total, as the orders service gives it (never an amount from the "
            "client), in the order's currency. The order must be the caller's, and one the orders "
            "service lets be paid now (its `payable` flag). A declined card answers **402** with "
            "the FAILED payment, whose `failure_reason` is `card_declined` whatever the provider's "
            "reason (kept for the admin); another attempt with another card (and a new "
            "Idempotency-Key) may follow, until the order has `PAYMENT_MAX_FAILED_ATTEMPTS` "
            "declined payments (default 5): then every attempt for it answers 409 "
            "`too_many_payment_attempts`, and only a new order can be paid. Concurrent attempts "
            "for one order: one is charged, the others answer 409. Events: `payment.succeeded` or "
            "`payment.failed`."
        ),
        parameters=[IDEMPOTENCY_KEY, REPLAYED],
        request=PaymentCreateInputSerializer,
        responses={
            201: OpenApiResponse(PaymentSerializer, description="Charged: the SUCCEEDED payment."),
            402: OpenApiResponse(
                PaymentSerializer,
                description=(
                    "Declined: the FAILED payment, `failure_reason` `card_declined` (one code for "
                    "every decline reason)."
                ),
            ),
            400: _error(
                "Invalid body, or the Idempotency-Key header is missing or blank (code "
                "`idempotency_key_required`), too long or not printable "
                "(`idempotency_key_invalid`)."
            ),
            401: _error("No valid access token."),
            403: _error("The caller is not a customer."),
            404: _error("No such order of the caller's."),
            409: _error(
                "`order_not_payable` (the orders service says the order may not be paid now; "
                "`order_status` is its status), `order_already_paid` (`payment_id`), "
                "`payment_in_progress` (another attempt for this order is running), "
                "`idempotency_key_in_use`, or `too_many_payment_attempts`: the order already has "
                "`max_failed_attempts` declined payments, so it cannot be paid any more (nothing "
                "is charged; place a new order). A conflict with the order's state, not a rate: "
                "waiting does not lift it, hence 409 rather than 429.",
                PaymentConflictSerializer,
            ),
            422: _error("`idempotency_key_reused`: this key was used with another body."),
            502: _error(
                "`bad_gateway`: the orders service answered nonsense (nothing charged); or "
                "`provider_error`: the provider failed (the payment, `payment_id`, is FAILED).",
                PaymentErrorSerializer,
            ),
            503: _error("The orders service is unreachable: nothing was charged, retry."),
            504: _error(
                "`provider_timeout`: the provider did not answer in time; the payment "
                "(`payment_id`) is marked FAILED. Retry with a new key.",
                PaymentErrorSerializer,
            ),
        },
    )
    def post(self, request):
        key = idempotency_key_from(request.headers)
        data = validated(PaymentCreateInputSerializer, request.data)
        claim = idempotency.idempotency_record_claim(
            customer_id=request.user.id,
            key=key,
            fingerprint=request_fingerprint(data, salt=idempotency.FINGERPRINT_SALT),
        )
        if claim.replay:
            return Response(
                claim.record.response_body,
                status=claim.record.response_status,
                headers={REPLAYED_HEADER: "true"},
            )
        try:
            payment = services.payment_create(
                order_id=data["order_id"],
                card_number=data["card_number"],
                customer_id=request.user.id,
                customer_email=request.user.email,
                idempotency_key=key,
                token=request.auth,
            )
            succeeded = payment.status == PaymentStatus.SUCCEEDED
            response = Response(
                PaymentSerializer(payment).data,
                status=status.HTTP_201_CREATED if succeeded else status.HTTP_402_PAYMENT_REQUIRED,
            )
        except APIException as exc:
            if isinstance(exc, Retryable):
                idempotency.idempotency_record_release(record=claim.record)
                raise
            response = self.handle_exception(exc)
        except BaseException:
            idempotency.idempotency_record_release(record=claim.record)
            raise
        idempotency.idempotency_record_complete(
            record=claim.record, status=response.status_code, body=_as_json(response.data)
        )
        return response


class PaymentDetailApi(APIView):
    @extend_schema(
        operation_id="payments_retrieve",
        summary="One payment, with its refund (its customer, admin)",
        responses={
            200: PaymentSerializer,
            401: _error("No valid access token."),
            404: _error("No such payment, or someone else's."),
        },
    )
    def get(self, request, payment_id: int):
        payment = selectors.payment_get(user=request.user, payment_id=payment_id)
        return Response(PaymentSerializer(payment).data)


class PaymentRefundApi(APIView):
    permission_classes = [HasRole.of(ROLE_ADMIN)]

    @extend_schema(
        operation_id="payments_refund",
        summary="Refund a payment in full (admin)",
        description=(
            "Gives the whole amount back through the provider and answers the REFUNDED payment. "
            "Idempotent: refunding a REFUNDED payment answers it again and does nothing more. "
            "Event: `payment.refunded`: the orders service moves the order to REFUNDED (a "
            "paid order too, which its restaurant can then no longer accept)."
        ),
        request=RefundInputSerializer,
        responses={
            200: PaymentSerializer,
            400: _error("Invalid body."),
            401: _error("No valid access token."),
            403: _error("The caller is not an admin."),
            404: _error("No such payment."),
            409: _error("`payment_not_refundable`: the payment never took money."),
            502: _error("`provider_error`: the provider did not refund; nothing changed."),
        },
    )
    def post(self, request, payment_id: int):
        data = validated(RefundInputSerializer, request.data or {})
        refund = services.payment_refund(
            payment_id=payment_id,
            reason=data.get("reason") or "refunded by an admin",
            by_user_id=request.user.id,
        )
        payment = selectors.payment_get(user=request.user, payment_id=refund.payment_id)
        return Response(PaymentSerializer(payment).data)


def _as_json(data):
    """Return `data` as the JSON the client received (what a replay must send back)."""
    return json.loads(JSONRenderer().render(data))


class OrderTrailPartApi(TrailPartView):
    """The payments part of an order's trail, for the orders service (internal, signed)."""

    def part(self, *, event_ids, order_id: int) -> dict:
        return selectors.order_trail_part(order_id=order_id, event_ids=event_ids)

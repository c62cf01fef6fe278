"""The errors of the payments service: each a status code and an error code for the JSON answer."""

from rest_framework import status

from food_common.errors import BadGateway, Conflict, DomainError, NotFound, ServiceUnavailable


class PaymentErrorCode:
    ORDER_NOT_PAYABLE = "order_not_payable"
    ORDER_ALREADY_PAID = "order_already_paid"
    PAYMENT_IN_PROGRESS = "payment_in_progress"
    PAYMENT_NOT_REFUNDABLE = "payment_not_refundable"
    TOO_MANY_PAYMENT_ATTEMPTS = "too_many_payment_attempts"
    PROVIDER_TIMEOUT = "provider_timeout"
    PROVIDER_ERROR = "provider_error"


class Retryable:
    """Mixin of the errors after which nothing happened and the same request may work later.

    Their answers are not saved for the request's Idempotency-Key, so a retry with the same key
    runs again (Stripe does the same for requests that conflicted with a concurrent one).
    """


# -- paying an order ---------------------------------------------------------------------------


class OrderNotFound(NotFound):
    default_detail = "Order not found."


class OrderNotPayable(Conflict):
    default_code = PaymentErrorCode.ORDER_NOT_PAYABLE
    default_detail = "This order cannot be paid in its current status."


class OrderAlreadyPaid(Conflict):
    default_code = PaymentErrorCode.ORDER_ALREADY_PAID
    default_detail = "This order is already paid."


class PaymentInProgress(Retryable, Conflict):
    default_code = PaymentErrorCode.PAYMENT_IN_PROGRESS
    default_detail = (
        "Another payment of this order is being processed; check its outcome before trying again."
    )


class OrdersUnavailable(Retryable, ServiceUnavailable):
    default_detail = "The orders service is unavailable, so nothing was charged; try again shortly."


class OrdersBadGateway(Retryable, BadGateway):
    default_detail = "The orders service gave an answer payments cannot use; nothing was charged."


class TooManyPaymentAttempts(Conflict):
    default_code = PaymentErrorCode.TOO_MANY_PAYMENT_ATTEMPTS
    default_detail = (
        "This order's card was declined too many times; it cannot be paid any more. Place a new "
        "order to try again."
    )


class ProviderTimedOut(DomainError):
    status_code = status.HTTP_504_GATEWAY_TIMEOUT
    default_code = PaymentErrorCode.PROVIDER_TIMEOUT
    default_detail = (
        "The payment provider did not answer in time, so the payment is marked FAILED; to try "
        "again, send a new request with a new Idempotency-Key."
    )


class ProviderFailed(BadGateway):
    default_code = PaymentErrorCode.PROVIDER_ERROR
    default_detail = (
        "The payment provider could not be reached. The payment is marked FAILED; to try again, "
        "send a new request with a new Idempotency-Key."
    )


# -- payments and refunds ----------------------------------------------------------------------


class PaymentNotFound(NotFound):
    default_detail = "Payment not found."


class PaymentNotRefundable(Conflict):
    default_code = PaymentErrorCode.PAYMENT_NOT_REFUNDABLE
    default_detail = "Only a succeeded payment can be refunded."


class RefundFailed(BadGateway):
    default_code = PaymentErrorCode.PROVIDER_ERROR
    default_detail = "The payment provider did not refund the payment."

"""Input validation and output shapes of the payments API (no business rules here: see services.py)."""

from rest_framework import serializers

from food_common.schema import ErrorSerializer, page_serializer
from food_common.serializers import QueryParamsSerializer, StrictFieldsSerializer
from payments.models import Payment, Refund

MAX_ID = 2**63 - 1
MAX_PAGE = 100_000
CARD_SEPARATORS = str.maketrans("", "", " -")


class StrictIntegerField(serializers.IntegerField):
    """An integer given as a JSON number: "12", 12.0 and true are refused."""

    default_error_messages = {"invalid": "A JSON integer is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


def luhn_valid(digits: str) -> bool:
    """Return True if `digits` passes the Luhn checksum every card number carries."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


class CardNumberField(serializers.CharField):
    """A card number: 12 to 19 digits (spaces and dashes between them are dropped), Luhn-valid."""

    default_error_messages = {
        "not_a_string": "Give the card number as a string of digits.",
        "format": "A card number is 12 to 19 digits.",
        "checksum": "This is not a valid card number (its check digit is wrong).",
    }

    def __init__(self, **kwargs):
        super().__init__(max_length=40, trim_whitespace=True, **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_a_string")
        digits = super().to_internal_value(data).translate(CARD_SEPARATORS)
        if not (digits.isascii() and digits.isdigit() and 12 <= len(digits) <= 19):
            self.fail("format")
        if not luhn_valid(digits):
            self.fail("checksum")
        return digits


class PaymentCreateInputSerializer(StrictFieldsSerializer):
    """Pay an order: which one, and the card. The amount comes from the order (other fields: 400)."""

    order_id = StrictIntegerField(min_value=1, max_value=MAX_ID)
    card_number = CardNumberField(
        help_text=(
            "The card to charge: 12 to 19 digits. Never stored: payments keep only its last four "
            "digits. Mock provider test cards: 4242424242424242 succeeds, 4000000000000002 and "
            "4000000000009995 are declined (402 card_declined; the mock's reasons, "
            "card_declined and insufficient_funds, are kept for the admin), 4000000000000119 "
            "times out (504 provider_timeout)."
        ),
    )


class RefundInputSerializer(StrictFieldsSerializer):
    """Optional: why the payment is refunded."""

    reason = serializers.CharField(
        max_length=200, required=False, allow_blank=True, help_text="Why (kept on the refund)."
    )


class PaymentFilterSerializer(QueryParamsSerializer):
    order_id = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Only this order's payments."
    )
    page = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE)


class RefundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = ["id", "amount", "status", "reason", "provider_reference", "created_at"]
        read_only_fields = fields


class PaymentSerializer(serializers.ModelSerializer):
    refunds = RefundSerializer(many=True, read_only=True)
    failure_reason = serializers.CharField(
        source="customer_failure_reason",
        read_only=True,
        help_text=(
            "Empty unless FAILED: `card_declined` for any decline (the provider's precise reason "
            "is kept for the payments admin only), `provider_timeout`, `provider_error` or "
            "`abandoned`."
        ),
    )

    class Meta:
        model = Payment
        fields = [
            "id",
            "order_id",
            "customer_id",
            "amount",
            "currency",
            "status",
            "failure_reason",
            "card_last4",
            "provider_reference",
            "refunds",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PaymentErrorSerializer(ErrorSerializer):
    payment_id = serializers.IntegerField(
        required=False, help_text="The payment this request made (marked FAILED), if any."
    )


class PaymentConflictSerializer(ErrorSerializer):
    payment_id = serializers.IntegerField(
        required=False, help_text="`order_already_paid`: the payment that took the money."
    )
    order_status = serializers.CharField(
        required=False, help_text="`order_not_payable`: the order's status."
    )
    max_failed_attempts = serializers.IntegerField(
        required=False,
        help_text="`too_many_payment_attempts`: the declines an order may have (the setting).",
    )


PaymentPageSerializer = page_serializer(PaymentSerializer, "PaymentPageSerializer")

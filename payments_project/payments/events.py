"""The data of the events payments publishes, one function per event, built from the payment.

These are published contracts (orders and notifications consume them): change a shape only
together with the contract.
"""

from payments.models import Payment


def _payment_data(payment: Payment) -> dict:
    return {
        "payment_id": payment.pk,
        "order_id": payment.order_id,
        "amount": str(payment.amount),
        "currency": payment.currency,
        "customer_id": payment.customer_id,
        "customer_email": payment.customer_email,
    }


def payment_succeeded_data(payment: Payment) -> dict:
    """Return the data of `payment.succeeded`: the order is paid."""
    return _payment_data(payment)


def payment_failed_data(payment: Payment) -> dict:
    """Return the data of `payment.failed`, with the reason the customer may see."""
    # Consumers show the reason to the customer (history, email): never the provider's own.
    return {**_payment_data(payment), "reason": payment.customer_failure_reason}


def payment_refunded_data(payment: Payment) -> dict:
    """Return the data of `payment.refunded`: the whole amount was given back."""
    return _payment_data(payment)

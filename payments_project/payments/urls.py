from django.urls import path

from payments import apis

# No trailing slashes: the gateway forwards the public paths unchanged.
urlpatterns = [
    path("payments", apis.PaymentListApi.as_view(), name="payments-list"),
    path("payments/<int:payment_id>", apis.PaymentDetailApi.as_view(), name="payments-detail"),
    path(
        "payments/<int:payment_id>/refund", apis.PaymentRefundApi.as_view(), name="payments-refund"
    ),
    # For the orders service only (the gateway never forwards /internal/): food_common.events.trail
    path(
        "internal/orders/<int:order_id>/trail",
        apis.OrderTrailPartApi.as_view(),
        name="internal-order-trail",
    ),
]

from django.urls import path

from delivery import apis

# No trailing slashes: the gateway forwards the public paths unchanged.
urlpatterns = [
    path("riders", apis.RiderListApi.as_view(), name="riders-list"),
    path("riders/me", apis.RiderMeApi.as_view(), name="riders-me"),
    path("riders/me/location", apis.RiderLocationApi.as_view(), name="riders-me-location"),
    path("riders/me/offers", apis.RiderOffersApi.as_view(), name="riders-me-offers"),
    path("riders/<int:rider_id>/verify", apis.RiderVerifyApi.as_view(), name="riders-verify"),
    path("deliveries", apis.DeliveryListApi.as_view(), name="deliveries-list"),
    path(
        "deliveries/<int:delivery_id>", apis.DeliveryDetailApi.as_view(), name="deliveries-detail"
    ),
    path(
        "deliveries/<int:delivery_id>/accept",
        apis.DeliveryAcceptApi.as_view(),
        name="deliveries-accept",
    ),
    path(
        "deliveries/<int:delivery_id>/decline",
        apis.DeliveryDeclineApi.as_view(),
        name="deliveries-decline",
    ),
    path(
        "deliveries/<int:delivery_id>/pickup",
        apis.DeliveryPickupApi.as_view(),
        name="deliveries-pickup",
    ),
    path(
        "deliveries/<int:delivery_id>/deliver",
        apis.DeliveryDeliverApi.as_view(),
        name="deliveries-deliver",
    ),
    path(
        "deliveries/<int:delivery_id>/assign",
        apis.DeliveryAssignApi.as_view(),
        name="deliveries-assign",
    ),
    # For the orders service only (the gateway never forwards /internal/): food_common.events.trail
    path(
        "internal/orders/<int:order_id>/trail",
        apis.OrderTrailPartApi.as_view(),
        name="internal-order-trail",
    ),
]

from django.urls import path

from payments import apis

urlpatterns = [
    path("payments", apis.PaymentListApi.as_view(), name="payments-list"),
]

from rest_framework.response import Response
from rest_framework.views import APIView


class PaymentListApi(APIView):
    """The caller's payments: an empty page until the payments issue builds the real list (needs a valid token)."""

    def get(self, request):
        return Response({"count": 0, "next": None, "previous": None, "results": []})

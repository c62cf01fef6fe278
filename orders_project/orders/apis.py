from rest_framework.response import Response
from rest_framework.views import APIView


class OrderListApi(APIView):
    """The caller's orders: an empty page until the orders issue builds the real list (needs a valid token)."""

    def get(self, request):
        return Response({"count": 0, "next": None, "previous": None, "results": []})

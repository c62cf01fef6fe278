from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView


class RestaurantListApi(APIView):
    """Placeholder list until the catalog issue lands: an empty page."""

    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"count": 0, "next": None, "previous": None, "results": []})

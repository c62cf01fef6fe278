"""Serializers every service uses for input: bodies and query strings that refuse unknown names."""

from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response


class StrictFieldsSerializer(serializers.Serializer):
    """A body or query: any name this serializer does not declare is refused (400).

    A misspelt field or filter then says so, instead of being silently ignored.
    """

    unknown_message = "Unknown field; allowed: {allowed}."

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                message = self.unknown_message.format(allowed=", ".join(self.fields))
                raise serializers.ValidationError({name: [message] for name in unknown})
        return super().to_internal_value(data)


class QueryParamsSerializer(StrictFieldsSerializer):
    """Query parameters: any parameter this serializer does not declare is refused (400)."""

    unknown_message = "Unknown query parameter; allowed: {allowed}."


def validated(serializer_class: type[serializers.Serializer], data, **kwargs) -> dict:
    """Return `data` validated by `serializer_class` (a 400 with the field errors otherwise)."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def page_response(view, queryset, serializer_class: type[serializers.Serializer]) -> Response:
    """Return one page of `queryset`, serialized, with count and next/previous links (?page=)."""
    paginator = PageNumberPagination()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data)

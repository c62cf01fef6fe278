"""Serializers every service uses for input (query parameters)."""

from rest_framework import serializers


class QueryParamsSerializer(serializers.Serializer):
    """Query parameters: any parameter this serializer does not declare is refused (400).

    A misspelt filter then says so, instead of silently returning everything.
    """

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError(
                {
                    name: [f"Unknown query parameter; allowed: {', '.join(self.fields)}."]
                    for name in unknown
                }
            )
        return super().to_internal_value(data)

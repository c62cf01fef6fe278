"""OpenAPI description of our authentication, so drf-spectacular documents the bearer token."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class JWKSAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "food_common.authentication.JWKSAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An RS256 access token from POST /auth/login.",
        }

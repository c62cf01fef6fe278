"""simplejwt tokens signed with accounts.keys, carrying the key id (`kid`) and our claims.

simplejwt signs through the token class's `_token_backend`; these classes use `KidTokenBackend`,
and SIMPLE_JWT's TOKEN_*_SERIALIZER settings point at serializers that use these classes.
"""

import jwt
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError
from rest_framework_simplejwt.settings import api_settings

from accounts import keys
from accounts.models import User
from food_common.tokens import TokenInvalid


class KidTokenBackend(TokenBackend):
    """Sign with the current key, naming it in the `kid` header; verify with the key a token names."""

    def encode(self, payload: dict) -> str:
        key = keys.signing_key()
        claims = {
            **payload,
            **{k: v for k, v in (("aud", self.audience), ("iss", self.issuer)) if v},
        }
        return jwt.encode(
            claims,
            key.private_key,
            algorithm=self.algorithm,
            headers={"kid": key.kid},
            json_encoder=self.json_encoder,
        )

    def get_verifying_key(self, token) -> object:
        # A refresh token signed before a key rotation still verifies while its key is published.
        try:
            return keys.public_key_for_kid(jwt.get_unverified_header(token).get("kid"))
        except (jwt.PyJWTError, TokenInvalid) as exc:
            raise TokenBackendError("Token is invalid") from exc


token_backend = KidTokenBackend(
    api_settings.ALGORITHM,
    audience=api_settings.AUDIENCE,
    issuer=api_settings.ISSUER,
    leeway=api_settings.LEEWAY,
    json_encoder=api_settings.JSON_ENCODER,
)


class AccessToken(tokens.AccessToken):
    _token_backend = token_backend


class RefreshToken(tokens.RefreshToken):
    _token_backend = token_backend
    access_token_class = AccessToken

    @classmethod
    def for_user(cls, user: User) -> "RefreshToken":
        # The access tokens made from this refresh token copy these claims.
        token = super().for_user(user)
        token["email"] = user.email
        token["role"] = user.role
        return token

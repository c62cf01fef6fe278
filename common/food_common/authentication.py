"""DRF authentication from our RS256 access tokens (no database lookup) and role permissions."""

from dataclasses import dataclass, field

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission

from food_common.errors import ErrorCode, ServiceUnavailable
from food_common.tokens import KeysUnavailable, TokenInvalid, get_verifier

ROLE_CUSTOMER = "customer"
ROLE_RESTAURANT_OWNER = "restaurant_owner"
ROLE_RIDER = "rider"
ROLE_ADMIN = "admin"


@dataclass(frozen=True)
class AuthenticatedUser:
    """The caller, as the access token describes them (services keep no copy of auth's users)."""

    id: int
    email: str
    role: str
    claims: dict = field(default_factory=dict, repr=False, compare=False)

    is_authenticated = True
    is_anonymous = False
    is_active = True

    @property
    def pk(self) -> int:
        return self.id

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN

    @classmethod
    def from_claims(cls, claims: dict) -> "AuthenticatedUser":
        try:
            user_id = int(claims["sub"])
        except (TypeError, ValueError):
            raise exceptions.AuthenticationFailed(
                "Token subject is not a user id.", ErrorCode.TOKEN_INVALID
            ) from None
        return cls(
            id=user_id, email=claims.get("email", ""), role=claims.get("role", ""), claims=claims
        )


def bearer_token(authorization: str | None) -> str | None:
    """Return the token of an `Authorization: Bearer <token>` header, None if there is no header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise TokenInvalid("Authorization header must be 'Bearer <token>'.")
    return token.strip()


class JWKSAuthentication(BaseAuthentication):
    """Authenticate `Authorization: Bearer <access token>` against the auth service's keys."""

    def authenticate(self, request):
        try:
            token = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
            if token is None:
                return None
            claims = get_verifier().verify(token)
        except TokenInvalid as exc:
            raise exceptions.AuthenticationFailed(str(exc), ErrorCode.TOKEN_INVALID) from None
        except KeysUnavailable as exc:
            raise ServiceUnavailable(str(exc), ErrorCode.AUTH_KEYS_UNAVAILABLE) from None
        return AuthenticatedUser.from_claims(claims), token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class HasRole(BasePermission):
    """Allow callers whose token role is one of `roles`; use `HasRole.of("customer")`."""

    roles: tuple[str, ...] = ()
    message = "Your role may not do this."

    @classmethod
    def of(cls, *roles: str) -> type["HasRole"]:
        return type(f"HasRole_{'_'.join(roles)}", (cls,), {"roles": roles})

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated) and (
            getattr(request.user, "role", None) in self.roles
        )

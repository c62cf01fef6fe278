import copy

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.errors import EmailTaken, RoleNotAllowed
from accounts.models import User
from accounts.tokens import RefreshToken

SELF_ASSIGNABLE_ROLES = frozenset({User.Role.CUSTOMER, User.Role.RESTAURANT_OWNER, User.Role.RIDER})


@transaction.atomic
def user_register(*, email: str, password: str, role: str = User.Role.CUSTOMER) -> User:
    """Create a user who signs themselves up; admins are only made by other admins."""
    if role not in SELF_ASSIGNABLE_ROLES:
        raise RoleNotAllowed()
    user = User(email=User.objects.normalize_email(email), role=role)
    if User.objects.filter(email=user.email).exists():
        raise EmailTaken()
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # registered concurrently between the check and the insert
        raise EmailTaken() from None
    return user


@transaction.atomic
def refresh_token_rotate(*, refresh: RefreshToken) -> RefreshToken:
    """Revoke `refresh` and return its successor; of concurrent calls with one token, one wins.

    The token's outstanding row is locked before its blacklist entry is checked and written, so
    concurrent rotations of one token run one after the other and every one but the first finds
    it revoked (the blacklist's unique key on the token would refuse a second entry anyway).
    """
    outstanding, _ = OutstandingToken.objects.select_for_update().get_or_create(
        jti=refresh[api_settings.JTI_CLAIM],
        defaults={
            "user_id": refresh.get(api_settings.USER_ID_CLAIM),
            "created_at": refresh.current_time,
            "token": str(refresh),
            "expires_at": datetime_from_epoch(refresh["exp"]),
        },
    )
    _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    if not created:
        raise TokenError("Token is blacklisted")
    successor = copy.deepcopy(refresh)
    successor.set_jti()
    successor.set_exp()
    successor.set_iat()
    OutstandingToken.objects.create(
        user_id=outstanding.user_id,
        jti=successor[api_settings.JTI_CLAIM],
        token=str(successor),
        created_at=successor.current_time,
        expires_at=datetime_from_epoch(successor["exp"]),
    )
    return successor

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from rest_framework.exceptions import ValidationError

from accounts.errors import EmailTaken, RoleNotAllowed
from accounts.models import User

SELF_ASSIGNABLE_ROLES = frozenset({User.Role.CUSTOMER, User.Role.RESTAURANT_OWNER})


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

from rest_framework import status

from food_common.errors import DomainError


class AccountsErrorCode:
    EMAIL_TAKEN = "email_taken"
    ROLE_NOT_ALLOWED = "role_not_allowed"
    USER_NOT_FOUND = "user_not_found"


class FieldError(DomainError):
    """A refusal about one input field, also reported under `errors` like a validation error."""

    status_code = status.HTTP_400_BAD_REQUEST
    field = ""

    def __init__(self):
        super().__init__(errors={self.field: [str(self.default_detail)]})


class EmailTaken(FieldError):
    field = "email"
    default_code = AccountsErrorCode.EMAIL_TAKEN
    default_detail = "A user with this email already exists."


class RoleNotAllowed(FieldError):
    field = "role"
    default_code = AccountsErrorCode.ROLE_NOT_ALLOWED
    default_detail = "This role cannot be chosen at registration."

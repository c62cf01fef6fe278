from django.core.checks import Error, register

from accounts import keys


@register()
def check_jwt_keys(app_configs, **kwargs) -> list[Error]:
    """Report a missing or malformed signing key in one line (`check`, `preflight`, `runserver`)."""
    try:
        keys.published_keys()
    except keys.SigningKeyError as exc:
        return [Error(str(exc), id=exc.check_id)]
    return []

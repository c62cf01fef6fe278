"""The Celery app of the tests (imported by conftest, so it is `celery.current_app`)."""

from food_common.celery_app import make_celery_app

app = make_celery_app("common")

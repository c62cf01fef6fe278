"""The Celery app of the delivery service: `celery -A delivery_config worker -Q delivery` (see bin/worker)."""

import os

from food_common.celery_app import make_celery_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delivery_config.settings")
app = make_celery_app("delivery")

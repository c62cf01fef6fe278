"""The Celery app of the payments service: `celery -A payments_config worker -Q <queue>` (see bin/worker)."""

import os

from food_common.celery_app import make_celery_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payments_config.settings")
app = make_celery_app("payments")

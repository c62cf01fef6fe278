"""The Celery app of the orders service: `celery -A orders_config worker -Q <queue>` (see bin/worker)."""

import os

from food_common.celery_app import make_celery_app

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orders_config.settings")
app = make_celery_app("orders")

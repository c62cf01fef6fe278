# Load the Celery app with Django, so @shared_task binds to it and publish() can send.
from delivery_config.celery import app as celery_app

__all__ = ["celery_app"]

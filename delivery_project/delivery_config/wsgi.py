"""WSGI entry point of the delivery service, on port 4005 (granian or gunicorn: see bin/serve)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delivery_config.settings")
application = get_wsgi_application()

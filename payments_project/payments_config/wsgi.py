"""WSGI entry point of the payments service (granian or gunicorn: see bin/serve)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "payments_config.settings")
application = get_wsgi_application()

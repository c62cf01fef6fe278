"""WSGI entry point of the delivery service, on port 4005 (granian or gunicorn: see bin/serve).

Good rider location updates are answered before Django's request cycle (delivery.location_shortcut);
every other request, and any update with something wrong with it, is Django's.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "delivery_config.settings")
django_application = get_wsgi_application()

from delivery.location_shortcut import LocationShortcut  # noqa: E402 - needs Django set up

application = LocationShortcut(django_application)

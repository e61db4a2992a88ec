"""WSGI entry point (gunicorn leadqual.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadqual.settings")
application = get_wsgi_application()

"""Production settings for scenario 12's gunicorn, minus the collected static files.

Production pages link their CSS and JS through the manifest that ``collectstatic`` writes (24 s here,
for files no load client asks for); these link them by their plain names. Every other setting is what
production runs.
"""

from leadqual.settings import *  # noqa: F403

STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405

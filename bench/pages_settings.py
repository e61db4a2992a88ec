"""Bench-only settings: the app's settings with the pages bench URLconf (plain comparison views added)."""

from leadqual.settings import *  # noqa: F403

ROOT_URLCONF = "bench.pages_urls"

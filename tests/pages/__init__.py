"""Tests of the browser app pages."""

"""Benchmarks for leadqual, run with ``python -m bench --leads N`` against PostgreSQL."""

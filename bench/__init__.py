"""Benchmarks for leadqual, run with ``python -m bench --leads N`` against PostgreSQL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def ensure_database(url: str, name: str) -> str:
    """Create database ``name`` on the server of ``url`` when missing; return a URL pointing at it."""
    import psycopg2
    from psycopg2 import sql

    parts = urlsplit(url)
    admin = psycopg2.connect(urlunsplit(parts._replace(path="/postgres")))
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")
    admin.close()
    return urlunsplit(parts._replace(path=f"/{name}"))

"""Persistence: SQLAlchemy models, engine and sessions, Alembic migrations."""

from sqlalchemy.dialects import registry

# `sqlite+inline://`: SQLite on the event loop's thread (db/sqlite_inline.py), the default for SQLite URLs.
registry.register("sqlite.inline", "db.sqlite_inline", "dialect")

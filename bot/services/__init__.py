"""Domain services: pure SQLAlchemy, no Telegram imports, an async session passed in by the caller."""

"""Where the project's data lives on disk (content, catalogs, the default database)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTENT_DIR = ROOT / "content"
LOCALES_DIR = ROOT / "locales"
VAR_DIR = ROOT / "var"

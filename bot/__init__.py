"""Guardian support bot: the application layer (config, CLI, wiring, i18n, dispatcher, console)."""

import os

# Opt in to python-telegram-bot's timedelta durations (RetryAfter.retry_after) now, as v22.2 asks.
os.environ.setdefault("PTB_TIMEDELTA", "1")

"""Outcomes a person can cause, as values the renderer turns into a sentence in their language."""

from __future__ import annotations


class Invalid(Exception):
    """Input that cannot be accepted; `reason` is a stable key the handler maps to a message."""

    def __init__(self, reason: str, **details: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class NotAllowed(Exception):
    """The person may not do this (a forged or stale button, or a foreign household)."""

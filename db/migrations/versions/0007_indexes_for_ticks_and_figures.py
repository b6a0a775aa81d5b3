"""indexes: occurrences waiting for their question, calls and tips by household and time (the county's figures)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAITING = "asked_at IS NULL AND outcome IS NULL AND skipped IS NULL"


def upgrade() -> None:
    # Plain CREATE INDEX: SQLite needs no table rebuild for an index.
    op.create_index(
        "ix_call_occurrence_ask",
        "call_occurrence",
        ["ask_at"],
        unique=False,
        sqlite_where=sa.text(WAITING),
        postgresql_where=sa.text(WAITING),
    )
    op.create_index("ix_call_occurrence_household_due", "call_occurrence", ["household_id", "due_at"], unique=False)
    op.create_index("ix_tip_delivery_household_sent", "tip_delivery", ["household_id", "sent_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tip_delivery_household_sent", table_name="tip_delivery")
    op.drop_index("ix_call_occurrence_household_due", table_name="call_occurrence")
    op.drop_index("ix_call_occurrence_ask", table_name="call_occurrence")

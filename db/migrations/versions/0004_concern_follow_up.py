"""concern follow-up: "not sure" kept apart from "yes", who holds a taken-up concern, and when to remind them

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None
# SQLite rebuilds a table to alter it: keep AUTOINCREMENT, or deleted ids would be reused (outbox keys name ids).
KEEP_IDS = {"sqlite_autoincrement": True}


def upgrade() -> None:
    # Batch mode: SQLite cannot add a foreign key to an existing table in place.
    with op.batch_alter_table("concern", table_kwargs=KEEP_IDS) as batch:
        batch.add_column(sa.Column("danger_unsure", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.add_column(sa.Column("acknowledged_by_user_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("follow_up_at", db.types.UTCDateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            "fk_concern_acknowledged_by_user_id_app_user",
            "app_user",
            ["acknowledged_by_user_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_concern_status_follow_up", ["status", "follow_up_at"])


def downgrade() -> None:
    with op.batch_alter_table("concern", table_kwargs=KEEP_IDS) as batch:
        batch.drop_index("ix_concern_status_follow_up")
        batch.drop_constraint("fk_concern_acknowledged_by_user_id_app_user", type_="foreignkey")
        batch.drop_column("follow_up_at")
        batch.drop_column("acknowledged_by_user_id")
        batch.drop_column("danger_unsure")

"""LMS achievements count their failed issue attempts (failed after a limit, not retried for ever)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # achievements stored before this revision start from no attempt
    with op.batch_alter_table("lms_achievements", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("issue_attempts", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("lms_achievements", schema=None) as batch_op:
        batch_op.drop_column("issue_attempts")

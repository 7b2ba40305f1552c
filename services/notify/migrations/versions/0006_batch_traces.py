"""the trace each batch's recipients came in

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 00:25:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notify_batch_traces",
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("trace_context", sa.String(length=512), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_notify_batch_traces")),
    )


def downgrade() -> None:
    op.drop_table("notify_batch_traces")

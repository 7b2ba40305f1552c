"""an upload into a batch keeps its request_id and upload digest

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batch_intakes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_id", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("content_sha256", sa.String(length=64), nullable=True))
        batch_op.create_index("uq_batch_intakes_request", ["batch_id", "request_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("batch_intakes", schema=None) as batch_op:
        batch_op.drop_index("uq_batch_intakes_request")
        batch_op.drop_column("content_sha256")
        batch_op.drop_column("request_id")

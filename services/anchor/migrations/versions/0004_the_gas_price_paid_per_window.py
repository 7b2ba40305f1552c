"""the gas price paid per window

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 23:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("anchor_windows", "revocation_windows"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("effective_gas_price", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    for table in ("anchor_windows", "revocation_windows"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("effective_gas_price")

"""anchor proofs in a narrow verify_proofs table

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 23:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PROOF_COLUMNS = (
    "certificate_id, merkle_root, merkle_path, chain_id, registry_address, transaction_hash, "
    "block_number"
)


def upgrade() -> None:
    op.create_table(
        "verify_proofs",
        sa.Column("certificate_id", sa.String(length=36), nullable=False),
        sa.Column("merkle_root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("merkle_path", sa.LargeBinary(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("registry_address", sa.String(length=42), nullable=False),
        sa.Column("transaction_hash", sa.String(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("certificate_id", name=op.f("pk_verify_proofs")),
    )
    # the proofs kept so far move with their certificates
    op.execute(
        f"INSERT INTO verify_proofs ({_PROOF_COLUMNS}) SELECT {_PROOF_COLUMNS} "
        "FROM verify_certificates WHERE merkle_root IS NOT NULL"
    )
    with op.batch_alter_table("verify_certificates", schema=None) as batch_op:
        for column in _PROOF_COLUMNS.split(", ")[1:]:
            batch_op.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("verify_certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merkle_root", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column("merkle_path", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("chain_id", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("registry_address", sa.String(length=42), nullable=True))
        batch_op.add_column(sa.Column("transaction_hash", sa.String(length=66), nullable=True))
        batch_op.add_column(sa.Column("block_number", sa.BigInteger(), nullable=True))
    # a proof that arrived before its credential had no certificate row of its own since 0004
    op.execute(
        "INSERT INTO verify_certificates (certificate_id) SELECT certificate_id FROM verify_proofs "
        "WHERE certificate_id NOT IN (SELECT certificate_id FROM verify_certificates)"
    )
    for column in _PROOF_COLUMNS.split(", ")[1:]:
        op.execute(
            f"UPDATE verify_certificates SET {column} = (SELECT p.{column} FROM verify_proofs p "
            "WHERE p.certificate_id = verify_certificates.certificate_id)"
        )
    op.drop_table("verify_proofs")

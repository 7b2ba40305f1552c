"""LMS intake: sources, issuance rules, statements and achievements

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lms_sources",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("auth_kind", sa.String(length=16), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lms_sources")),
        sa.UniqueConstraint("name", name=op.f("uq_lms_sources_name")),
        sa.UniqueConstraint("request_id", name=op.f("uq_lms_sources_request_id")),
    )
    op.create_table(
        "issuance_rules",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("activity_id", sa.String(length=500), nullable=False),
        sa.Column("required_activities", sa.Text(), nullable=False),
        sa.Column("min_score_scaled", sa.Float(), nullable=True),
        sa.Column("min_sessions", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("template", sa.String(length=100), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issuance_rules")),
        sa.UniqueConstraint("request_id", name=op.f("uq_issuance_rules_request_id")),
    )
    op.create_table(
        "lms_statements",
        sa.Column("statement_id", sa.String(length=64), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.Column("actor_key", sa.String(length=800), nullable=False),
        sa.Column("verb", sa.String(length=16), nullable=True),
        sa.Column("verb_iri", sa.String(length=500), nullable=False),
        sa.Column("object_id", sa.String(length=500), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=True),
        sa.Column("score_scaled", sa.Float(), nullable=True),
        sa.Column("raw_sha256", sa.String(length=64), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["lms_sources.id"],
            name=op.f("fk_lms_statements_source_id_lms_sources"),
        ),
        sa.PrimaryKeyConstraint("statement_id", name=op.f("pk_lms_statements")),
    )
    op.create_index(
        "ix_lms_statements_actor", "lms_statements", ["actor_key", "stored_at"], unique=False
    )
    op.create_table(
        "lms_achievements",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("rule_id", sa.String(length=36), nullable=False),
        sa.Column("actor_key", sa.String(length=800), nullable=False),
        sa.Column("source_id", sa.String(length=36), nullable=False),
        sa.Column("statement_id", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("recipient_email", sa.String(length=254), nullable=False),
        sa.Column("recipient_name", sa.String(length=200), nullable=False),
        sa.Column("completion_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("certificate_id", sa.String(length=36), nullable=True),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["issuance_rules.id"],
            name=op.f("fk_lms_achievements_rule_id_issuance_rules"),
        ),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["lms_sources.id"],
            name=op.f("fk_lms_achievements_source_id_lms_sources"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lms_achievements")),
        sa.UniqueConstraint("request_id", name=op.f("uq_lms_achievements_request_id")),
        sa.UniqueConstraint("rule_id", "actor_key", name="uq_lms_achievements_rule_actor"),
    )
    op.create_index(
        "ix_lms_achievements_status", "lms_achievements", ["status", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_lms_achievements_status", table_name="lms_achievements")
    op.drop_table("lms_achievements")
    op.drop_index("ix_lms_statements_actor", table_name="lms_statements")
    op.drop_table("lms_statements")
    op.drop_table("issuance_rules")
    op.drop_table("lms_sources")

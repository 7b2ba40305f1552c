"""delivery timing: time zones, delivery windows, domain slots

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 20:10:29.293772
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the recipient's domain: what follows the last @ of the address, lower-cased
_DOMAIN_OF_EMAIL = {
    "postgresql": "lower(substring(c.recipient_email from '[^@]*$'))",
    "sqlite": "lower(replace(c.recipient_email, rtrim(c.recipient_email, "
    "replace(c.recipient_email, '@', '')), ''))",
}


def upgrade() -> None:
    op.create_table(
        "domain_slots",
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("next_slot_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("domain", name=op.f("pk_domain_slots")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("recipient_domain", sa.String(length=255), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("business_hours", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("notify_certificates", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("time_zone", sa.String(length=64), nullable=False, server_default="")
        )
        batch_op.add_column(
            sa.Column("business_hours", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("send_time", sa.DateTime(timezone=True), nullable=True))
    # deliveries made before this revision are paced by their recipient's domain too
    domain = _DOMAIN_OF_EMAIL[op.get_bind().dialect.name]
    op.execute(
        "UPDATE deliveries SET recipient_domain = (SELECT "
        f"{domain} FROM notify_certificates c WHERE c.certificate_id = deliveries.certificate_id) "
        "WHERE EXISTS (SELECT 1 FROM notify_certificates c "
        "WHERE c.certificate_id = deliveries.certificate_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("notify_certificates", schema=None) as batch_op:
        batch_op.drop_column("send_time")
        batch_op.drop_column("business_hours")
        batch_op.drop_column("time_zone")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("business_hours")
        batch_op.drop_column("time_zone")
        batch_op.drop_column("recipient_domain")
    op.drop_table("domain_slots")

"""readings outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.models import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "readings_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("supplier_code", sa.String(16), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(24), nullable=True),
        sa.Column("meter_id", sa.String(64), nullable=False),
        sa.Column("meter_serial", sa.String(64), nullable=False),
        sa.Column("zones", sa.String(128), nullable=False),
        sa.Column("values", sa.String(255), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("claim_token", sa.String(32), nullable=True),
        sa.Column("claimed_at", UtcDateTime(), nullable=True),
        sa.Column("reference", sa.String(64), nullable=True),
        sa.Column("billing_state", sa.String(16), nullable=True),
        sa.Column("accepted_at", UtcDateTime(), nullable=True),
        sa.Column("reject_code", sa.String(32), nullable=True),
        sa.Column("reject_detail", sa.String(255), nullable=True),
        sa.Column("notified", sa.Boolean(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE",
            name=op.f("fk_readings_outbox_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["linked_accounts.id"], ondelete="CASCADE",
            name=op.f("fk_readings_outbox_account_id_linked_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readings_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_readings_outbox_idempotency_key")),
    )
    op.create_index(op.f("ix_readings_outbox_user_id"), "readings_outbox", ["user_id"])
    op.create_index(op.f("ix_readings_outbox_account_id"), "readings_outbox", ["account_id"])
    op.create_index("ix_readings_outbox_due", "readings_outbox", ["status", "next_attempt_at"])
    op.create_index("ix_readings_outbox_untold", "readings_outbox", ["notified", "status"])


def downgrade() -> None:
    op.drop_index("ix_readings_outbox_untold", table_name="readings_outbox")
    op.drop_index("ix_readings_outbox_due", table_name="readings_outbox")
    op.drop_index(op.f("ix_readings_outbox_account_id"), table_name="readings_outbox")
    op.drop_index(op.f("ix_readings_outbox_user_id"), table_name="readings_outbox")
    op.drop_table("readings_outbox")

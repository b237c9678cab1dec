"""reminder settings, reminder preferences, the delivery outbox and APScheduler's job table

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.models import UtcDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reminder_settings",
        sa.Column("account_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("readings_on", sa.Boolean(), nullable=False),
        sa.Column("readings_anchor", sa.String(8), nullable=False),
        sa.Column("readings_days_before", sa.SmallInteger(), nullable=False),
        sa.Column("payment_on", sa.Boolean(), nullable=False),
        sa.Column("payment_days_before", sa.SmallInteger(), nullable=False),
        sa.Column("receipt_on", sa.Boolean(), nullable=False),
        sa.Column("minute_of_day", sa.SmallInteger(), nullable=False),
        sa.Column("due_day", sa.SmallInteger(), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["linked_accounts.id"], ondelete="CASCADE",
            name=op.f("fk_reminder_settings_account_id_linked_accounts"),
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_reminder_settings")),
    )
    op.create_table(
        "reminder_prefs",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("timezone", sa.String(64), nullable=True),
        sa.Column("paused_at", UtcDateTime(), nullable=True),
        sa.Column("paused_reason", sa.String(64), nullable=True),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE",
            name=op.f("fk_reminder_prefs_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_reminder_prefs")),
    )
    op.create_table(
        "reminder_deliveries",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(7), nullable=False),
        sa.Column("scheduled_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(40), nullable=True),
        sa.Column("claimed_at", UtcDateTime(), nullable=True),
        sa.Column("sent_at", UtcDateTime(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE",
            name=op.f("fk_reminder_deliveries_user_id_users"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["linked_accounts.id"], ondelete="CASCADE",
            name=op.f("fk_reminder_deliveries_account_id_linked_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_deliveries")),
        sa.UniqueConstraint("kind", "user_id", "account_id", "period",
                            name="uq_reminder_deliveries_key"),
    )
    op.create_index(op.f("ix_reminder_deliveries_user_id"), "reminder_deliveries", ["user_id"])
    op.create_index(op.f("ix_reminder_deliveries_account_id"), "reminder_deliveries",
                    ["account_id"])
    op.create_index("ix_reminder_deliveries_status_next", "reminder_deliveries",
                    ["status", "next_attempt_at"])
    # APScheduler's SQLAlchemyJobStore table, in the exact shape the job store defines, so the
    # store finds it and Alembic (not the store's create_all) owns the schema.
    op.create_table(
        "apscheduler_jobs",
        sa.Column("id", sa.Unicode(191), nullable=False),
        sa.Column("next_run_time", sa.Float(25), nullable=True),
        sa.Column("job_state", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apscheduler_jobs")),
    )
    op.create_index(op.f("ix_apscheduler_jobs_next_run_time"), "apscheduler_jobs",
                    ["next_run_time"])


def downgrade() -> None:
    op.drop_index(op.f("ix_apscheduler_jobs_next_run_time"), table_name="apscheduler_jobs")
    op.drop_table("apscheduler_jobs")
    op.drop_index("ix_reminder_deliveries_status_next", table_name="reminder_deliveries")
    op.drop_index(op.f("ix_reminder_deliveries_account_id"), table_name="reminder_deliveries")
    op.drop_index(op.f("ix_reminder_deliveries_user_id"), table_name="reminder_deliveries")
    op.drop_table("reminder_deliveries")
    op.drop_table("reminder_prefs")
    op.drop_table("reminder_settings")

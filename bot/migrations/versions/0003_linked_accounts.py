"""linked accounts and link attempts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.models import UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "linked_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("supplier_code", sa.String(16), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(24), nullable=True),
        sa.Column("alias", sa.String(32), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("owner_masked", sa.String(128), nullable=False),
        sa.Column("address_masked", sa.String(255), nullable=False),
        sa.Column("linked_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE",
            name=op.f("fk_linked_accounts_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_linked_accounts")),
    )
    op.create_index(op.f("ix_linked_accounts_user_id"), "linked_accounts", ["user_id"])
    # coalesce: NULL units must collide, which a plain unique constraint would not do.
    op.create_index(
        "uq_linked_accounts_account",
        "linked_accounts",
        ["user_id", "supplier_code", "number", sa.text("coalesce(unit, '')")],
        unique=True,
    )
    op.create_index(
        "uq_linked_accounts_default",
        "linked_accounts",
        ["user_id"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "link_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_key", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="SET NULL",
            name=op.f("fk_link_attempts_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_attempts")),
    )
    op.create_index(op.f("ix_link_attempts_user_id"), "link_attempts", ["user_id"])
    op.create_index(
        "ix_link_attempts_account_key_at", "link_attempts", ["account_key", "at"]
    )


def downgrade() -> None:
    op.drop_index("ix_link_attempts_account_key_at", table_name="link_attempts")
    op.drop_index(op.f("ix_link_attempts_user_id"), table_name="link_attempts")
    op.drop_table("link_attempts")
    op.drop_index("uq_linked_accounts_default", table_name="linked_accounts")
    op.drop_index("uq_linked_accounts_account", table_name="linked_accounts")
    op.drop_index(op.f("ix_linked_accounts_user_id"), table_name="linked_accounts")
    op.drop_table("linked_accounts")

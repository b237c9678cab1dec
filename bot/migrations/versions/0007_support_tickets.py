"""support tickets and their threads

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.models import UtcDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "support_tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("topic", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("photo_file_id", sa.String(255), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("support_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("support_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("closed_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], ondelete="CASCADE",
            name=op.f("fk_support_tickets_user_id_users"),
        ),
        # The ticket outlives the account it was about: unlinking only forgets the link.
        sa.ForeignKeyConstraint(
            ["account_id"], ["linked_accounts.id"], ondelete="SET NULL",
            name=op.f("fk_support_tickets_account_id_linked_accounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_tickets")),
    )
    op.create_index(op.f("ix_support_tickets_user_id"), "support_tickets", ["user_id"])
    op.create_index(op.f("ix_support_tickets_account_id"), "support_tickets", ["account_id"])
    op.create_index("ix_support_tickets_post", "support_tickets",
                    ["support_chat_id", "support_message_id"])
    op.create_index("ix_support_tickets_status", "support_tickets", ["status"])
    op.create_table(
        "support_ticket_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("photo_file_id", sa.String(255), nullable=True),
        sa.Column("support_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("support_message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["support_tickets.id"], ondelete="CASCADE",
            name=op.f("fk_support_ticket_messages_ticket_id_support_tickets"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_ticket_messages")),
    )
    op.create_index(op.f("ix_support_ticket_messages_ticket_id"), "support_ticket_messages",
                    ["ticket_id"])
    op.create_index("ix_support_ticket_messages_post", "support_ticket_messages",
                    ["support_chat_id", "support_message_id"])


def downgrade() -> None:
    op.drop_index("ix_support_ticket_messages_post", table_name="support_ticket_messages")
    op.drop_index(op.f("ix_support_ticket_messages_ticket_id"),
                  table_name="support_ticket_messages")
    op.drop_table("support_ticket_messages")
    op.drop_index("ix_support_tickets_status", table_name="support_tickets")
    op.drop_index("ix_support_tickets_post", table_name="support_tickets")
    op.drop_index(op.f("ix_support_tickets_account_id"), table_name="support_tickets")
    op.drop_index(op.f("ix_support_tickets_user_id"), table_name="support_tickets")
    op.drop_table("support_tickets")

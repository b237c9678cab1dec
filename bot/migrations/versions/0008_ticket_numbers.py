"""support ticket numbers are never given twice

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22

SQLite gives a deleted row's id out again (an INTEGER PRIMARY KEY without AUTOINCREMENT
takes the highest id + 1): after «Delete my data» removed the latest tickets, the next
ticket got the same number as one already posted in the support chat. Numbers now come
from a one-row counter, on PostgreSQL too (one way for both).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "support_ticket_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_ticket_numbers")),
    )
    op.execute("INSERT INTO support_ticket_numbers (id, last) "
               "SELECT 1, COALESCE(MAX(id), 0) FROM support_tickets")


def downgrade() -> None:
    op.drop_table("support_ticket_numbers")

"""demo billing system tables

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.db.models import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Money and meter values are exact decimal text (bot.billing.demo_models.DecimalText).
DECIMAL = sa.String(40)
PERIOD = sa.String(7)


def upgrade() -> None:
    op.create_table(
        "demo_suppliers",
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("anchor", PERIOD, nullable=False),
        sa.Column("open_period", PERIOD, nullable=False),
        sa.Column("generator", sa.Integer(), nullable=False),
        sa.Column("seeded_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_demo_suppliers")),
    )
    op.create_table(
        "demo_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("supplier_code", sa.String(16), nullable=False),
        sa.Column("unit_code", sa.String(24), nullable=False),
        sa.Column("number", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("profile", sa.String(16), nullable=False),
        sa.Column("surname", sa.String(64), nullable=False),
        sa.Column("first_name", sa.String(64), nullable=False),
        sa.Column("patronymic", sa.String(64), nullable=False),
        sa.Column("locality", sa.String(160), nullable=False),
        sa.Column("street", sa.String(80), nullable=False),
        sa.Column("house", sa.String(16), nullable=False),
        sa.Column("flat", sa.String(16), nullable=True),
        sa.Column("residents", sa.Integer(), nullable=False),
        sa.Column("heated_area", DECIMAL, nullable=True),
        sa.Column("equipment", sa.String(64), nullable=False),
        sa.Column("pin", sa.String(8), nullable=True),
        sa.Column("pay_day", sa.Integer(), nullable=False),
        sa.Column("norm_volume", DECIMAL, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_accounts")),
        sa.UniqueConstraint("supplier_code", "unit_code", "number",
                            name=op.f("uq_demo_accounts_supplier_code")),
    )
    op.create_index(op.f("ix_demo_accounts_supplier_code"), "demo_accounts", ["supplier_code"])
    op.create_table(
        "demo_meters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("serial", sa.String(32), nullable=False),
        sa.Column("zones", sa.String(32), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("check_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["demo_accounts.id"], ondelete="CASCADE",
                                name=op.f("fk_demo_meters_account_id_demo_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_meters")),
        sa.UniqueConstraint("code", name=op.f("uq_demo_meters_code")),
    )
    op.create_index(op.f("ix_demo_meters_account_id"), "demo_meters", ["account_id"])
    op.create_table(
        "demo_readings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.Integer(), nullable=False),
        sa.Column("period", PERIOD, nullable=False),
        sa.Column("taken_on", sa.Date(), nullable=False),
        sa.Column("reading", sa.String(128), nullable=False),
        sa.Column("consumption", sa.String(128), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("superseded", sa.Boolean(), nullable=False),
        sa.Column("active_period", PERIOD, nullable=True),
        sa.Column("reference", sa.String(48), nullable=True),
        sa.Column("idempotency_key", sa.String(128), nullable=True),
        sa.Column("submitted_at", UtcDateTime(), nullable=True),
        sa.Column("accepted_at", UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["meter_id"], ["demo_meters.id"], ondelete="CASCADE",
                                name=op.f("fk_demo_readings_meter_id_demo_meters")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_readings")),
        sa.UniqueConstraint("meter_id", "active_period",
                            name=op.f("uq_demo_readings_meter_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_demo_readings_reference")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_demo_readings_idempotency_key")),
    )
    op.create_index("ix_demo_readings_meter_id_period", "demo_readings", ["meter_id", "period"])
    op.create_table(
        "demo_reading_rejections",
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("meter_code", sa.String(64), nullable=False),
        sa.Column("reading", sa.String(256), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("detail", sa.String(255), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["demo_accounts.id"], ondelete="CASCADE",
                                name=op.f("fk_demo_reading_rejections_account_id_demo_accounts")),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_demo_reading_rejections")),
    )
    op.create_index(op.f("ix_demo_reading_rejections_account_id"), "demo_reading_rejections",
                    ["account_id"])
    op.create_table(
        "demo_charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("period", PERIOD, nullable=False),
        sa.Column("service", sa.String(64), nullable=False),
        sa.Column("volume", DECIMAL, nullable=False),
        sa.Column("unit", sa.String(8), nullable=False),
        sa.Column("tariff", DECIMAL, nullable=False),
        sa.Column("amount", DECIMAL, nullable=False),
        sa.Column("recalculation", DECIMAL, nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["demo_accounts.id"], ondelete="CASCADE",
                                name=op.f("fk_demo_charges_account_id_demo_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_charges")),
        sa.UniqueConstraint("account_id", "period", "service",
                            name=op.f("uq_demo_charges_account_id")),
    )
    op.create_table(
        "demo_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("period", PERIOD, nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("amount", DECIMAL, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("reference", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["demo_accounts.id"], ondelete="CASCADE",
                                name=op.f("fk_demo_payments_account_id_demo_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_payments")),
    )
    op.create_index("ix_demo_payments_account_id_period", "demo_payments",
                    ["account_id", "period"])
    op.create_table(
        "demo_balances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("period", PERIOD, nullable=False),
        sa.Column("opening", DECIMAL, nullable=False),
        sa.Column("charged", DECIMAL, nullable=False),
        sa.Column("recalculation", DECIMAL, nullable=False),
        sa.Column("paid", DECIMAL, nullable=False),
        sa.Column("closing", DECIMAL, nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["demo_accounts.id"], ondelete="CASCADE",
                                name=op.f("fk_demo_balances_account_id_demo_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_demo_balances")),
        sa.UniqueConstraint("account_id", "period", name=op.f("uq_demo_balances_account_id")),
    )


def downgrade() -> None:
    op.drop_table("demo_balances")
    op.drop_index("ix_demo_payments_account_id_period", table_name="demo_payments")
    op.drop_table("demo_payments")
    op.drop_table("demo_charges")
    op.drop_index(op.f("ix_demo_reading_rejections_account_id"),
                  table_name="demo_reading_rejections")
    op.drop_table("demo_reading_rejections")
    op.drop_index("ix_demo_readings_meter_id_period", table_name="demo_readings")
    op.drop_table("demo_readings")
    op.drop_index(op.f("ix_demo_meters_account_id"), table_name="demo_meters")
    op.drop_table("demo_meters")
    op.drop_index(op.f("ix_demo_accounts_supplier_code"), table_name="demo_accounts")
    op.drop_table("demo_accounts")
    op.drop_table("demo_suppliers")

"""Alembic environment. The bot passes its own connection (see bot.db.migrate), so migrations
run inside the application's event loop on the same engine and driver the bot uses."""

from __future__ import annotations

from alembic import context

from bot.db.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - the CLI always hands a connection over
    raise RuntimeError("run migrations through `python -m bot migrate`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

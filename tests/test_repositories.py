"""Repository tests on SQLite and on the real PostgreSQL (the `db_url` fixture)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiogram.fsm.storage.base import StorageKey

from bot.db import migrate
from bot.db.engine import create_engine, create_session_factory
from bot.db.models import utcnow
from bot.db.repositories.fsm import FsmRepository
from bot.db.repositories.users import UserRepository
from bot.fsm_storage.sql import SqlStorage
from fsm.registration import RegistrationStates


async def test_migrations_up_and_down(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


def test_head_names_the_newest_migration() -> None:
    # `upgrade` skips Alembic when the database is at HEAD: a new migration must move it.
    assert migrate.head_revision() == migrate.HEAD


async def test_upgrade_reads_the_stored_revision_first(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        assert await migrate.stored_revision(engine) is None  # a new database
        await migrate.upgrade(engine, "0006")
        assert await migrate.stored_revision(engine) == "0006"
        await migrate.upgrade(engine)  # not at HEAD yet: Alembic runs
        assert await migrate.stored_revision(engine) == migrate.HEAD
        await migrate.upgrade(engine)  # at HEAD: nothing to do
        assert await migrate.current_revision(engine) == migrate.HEAD
    finally:
        await engine.dispose()


async def test_user_lifecycle(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)
        factory = create_session_factory(engine)
        now = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
        async with factory() as session:
            repo = UserRepository(session)
            user = await repo.set_language(42, "en")
            await repo.give_consent(user, "v1", now)
            await repo.set_phone(user, "+79161234567")
            await repo.set_email(user, "a@example.org")
            await repo.mark_registered(user, now)
        async with factory() as session:
            repo = UserRepository(session)
            loaded = await repo.get(42)
            assert loaded is not None and loaded.is_registered
            assert loaded.consent_at == now and loaded.consent_at.tzinfo is not None
            assert (loaded.phone, loaded.email, loaded.language) == (
                "+79161234567", "a@example.org", "en")
            await repo.set_language(42, "ru")
        async with factory() as session:
            repo = UserRepository(session)
            await repo.delete_personal_data(42, "v1")
            assert await repo.get(42) is None
            events = await repo.consent_events(42)
            assert [e.action for e in events] == ["given", "withdrawn"]
    finally:
        await engine.dispose()


async def test_sql_fsm_storage(db_url: str) -> None:
    engine = create_engine(db_url)
    try:
        await migrate.upgrade(engine)
        factory = create_session_factory(engine)
        storage = SqlStorage(factory, ttl=timedelta(days=1))
        key = StorageKey(bot_id=1, chat_id=2, user_id=2)
        assert await storage.get_state(key) is None
        assert await storage.get_data(key) == {}
        await storage.set_state(key, RegistrationStates.phone)
        await storage.set_data(key, {"payload": "link", "n": 1})
        assert await storage.get_state(key) == "RegistrationStates:phone"
        assert await storage.get_data(key) == {"payload": "link", "n": 1}
        await storage.update_data(key, {"n": 2})
        assert await storage.get_data(key) == {"payload": "link", "n": 2}
        await storage.set_state(key, None)
        assert await storage.get_state(key) is None
        assert await storage.get_data(key) == {"payload": "link", "n": 2}
        # another key is independent
        other = StorageKey(bot_id=1, chat_id=3, user_id=3)
        assert await storage.get_data(other) == {}
        # expired records read as absent and are purged
        expired = SqlStorage(factory, ttl=timedelta(seconds=0))
        assert await expired.get_data(key) == {}
        async with factory() as session:
            assert await FsmRepository(session).purge_older_than(utcnow()) >= 1
    finally:
        await engine.dispose()


async def test_sql_fsm_storage_remembers_what_it_read_and_wrote(db_url: str) -> None:
    """Without Redis one process owns the records: reads after the first and writes of what
    is stored already cost no statement; what is written still reaches the database (a
    restart finds it), and a remembered record still expires."""
    import asyncio

    from sqlalchemy import event

    engine = create_engine(db_url)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement.split(maxsplit=1)[0])

    try:
        await migrate.upgrade(engine)
        factory = create_session_factory(engine)
        storage = SqlStorage(factory, ttl=timedelta(days=1))
        key = StorageKey(bot_id=1, chat_id=7, user_id=7)
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        assert await storage.get_state(key) is None
        assert await storage.get_data(key) == {}
        await storage.set_state(key, None)  # a clear of a clear context
        await storage.set_data(key, {})
        assert statements == ["SELECT"]
        await storage.set_state(key, RegistrationStates.phone)
        await storage.set_data(key, {"n": 1})
        assert statements == ["SELECT", "INSERT", "INSERT"]  # upserts
        assert await storage.get_state(key) == "RegistrationStates:phone"
        assert await storage.get_data(key) == {"n": 1}
        await storage.set_data(key, {"n": 1})
        assert statements == ["SELECT", "INSERT", "INSERT"]
        # An update's outcome, state and data: one upsert; again: none.
        await storage.write(key, state="RegistrationStates:email", set_state=True, data={})
        await storage.write(key, state="RegistrationStates:email", set_state=True, data={})
        await storage.write(key, state=None, set_state=False, data={})
        assert statements == ["SELECT", "INSERT", "INSERT", "INSERT"]
        event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert await SqlStorage(factory, ttl=timedelta(days=1)).get_state(key) == \
            "RegistrationStates:email"
        await storage.set_state(key, RegistrationStates.phone)
        await storage.set_data(key, {"n": 1})

        restarted = SqlStorage(factory, ttl=timedelta(days=1))
        assert await restarted.get_state(key) == "RegistrationStates:phone"
        assert await restarted.get_data(key) == {"n": 1}

        brief = SqlStorage(factory, ttl=timedelta(milliseconds=300))
        other = StorageKey(bot_id=1, chat_id=8, user_id=8)
        await brief.set_state(other, RegistrationStates.phone)
        assert await brief.get_state(other) == "RegistrationStates:phone"
        await asyncio.sleep(0.5)
        assert await brief.get_state(other) is None  # expired, remembered or not
        await brief.set_state(other, RegistrationStates.phone)  # written again, not skipped
        assert await SqlStorage(factory, ttl=timedelta(days=1)).get_state(other) == \
            "RegistrationStates:phone"
    finally:
        await engine.dispose()

"""The PostgreSQL pool pings connections that sat idle, and only those (bot/db/engine.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from bot.db import engine as engine_module
from bot.db.engine import create_engine


async def backend_pid(engine: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_an_idle_connection_killed_by_the_server_is_replaced_unnoticed(
        postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(postgres_url, pool_size=1, max_overflow=0)
    pings: list[object] = []
    real_ping = engine.dialect.do_ping

    def counting_ping(dbapi_conn: object) -> bool:
        pings.append(dbapi_conn)
        return bool(real_ping(dbapi_conn))

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    try:
        first = await backend_pid(engine)
        # In steady use the connection is handed out again without a ping.
        assert await backend_pid(engine) == first and pings == []
        # The server ends it (a restart, an idle timeout); then it sits idle long enough.
        killer = create_engine(postgres_url)
        try:
            async with killer.connect() as conn:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        finally:
            await killer.dispose()
        monkeypatch.setattr(engine_module.time, "monotonic",
                            lambda: engine_module.PING_AFTER_IDLE * 1000.0 + 1e9)
        # The next checkout pings it, finds it dead, and hands out a new one: no error.
        second = await backend_pid(engine)
        assert second != first and len(pings) == 1
    finally:
        await engine.dispose()


async def test_read_only_sessions_send_no_transaction_on_postgres(
        postgres_url: str, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from asyncpg.transaction import Transaction

    from bot.db.engine import create_session_factory, read_only_sessions

    sent: list[str] = []
    for name in ("start", "commit", "rollback"):
        original = getattr(Transaction, name)

        async def counted(self: Any, _name: str = name, _original: Any = original) -> None:
            sent.append(_name)
            await _original(self)

        monkeypatch.setattr(Transaction, name, counted)
    engine = create_engine(postgres_url)
    try:
        factory = create_session_factory(engine)
        await backend_pid(engine)  # the first connection's own set-up
        sent.clear()
        async with factory() as session:
            assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
        assert sent == ["start", "rollback"]  # an ordinary session: BEGIN … ROLLBACK
        sent.clear()
        reads = read_only_sessions(factory)
        async with reads() as session:
            await session.execute(text("CREATE TEMP TABLE t (n int)"))
            await session.execute(text("INSERT INTO t VALUES (1)"))
            assert (await session.execute(text("SELECT n FROM t"))).scalar_one() == 1
        assert sent == []
        # The pooled connection goes back to transactions for everybody else.
        async with factory() as session:
            await session.execute(text("SELECT 1"))
        assert sent == ["start", "rollback"]
    finally:
        await engine.dispose()
    sqlite = create_engine(sqlite_url)
    try:
        factory = create_session_factory(sqlite)
        assert read_only_sessions(factory) is factory
    finally:
        await sqlite.dispose()

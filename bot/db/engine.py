from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # WAL lets readers run beside the single writer; foreign keys make cascades real.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    engine = create_async_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        ping_idle_connections(engine)
    return engine


# A pooled connection unused this long is pinged before it is handed out again.
PING_AFTER_IDLE: Final = 10.0


def ping_idle_connections(engine: AsyncEngine, idle: float = PING_AFTER_IDLE) -> None:
    """Like `pool_pre_ping`, but only for connections that sat idle for `idle` seconds.

    `pool_pre_ping` costs a round trip to the server on every checkout, and an update takes
    several connections (its own session, the FSM storage, the billing system): a tenth of
    the bot's time under load. A connection in steady use proves itself with every query;
    the one that waited through a database restart or a dropped link is the idle one, and it
    is replaced here before anybody gets it. (A connection broken within `idle` seconds of its
    last use fails its query once and the pool replaces it then.)
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < idle:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            # The pool drops this connection and checks out another (or opens a new one).
            raise DisconnectionError("an idle pooled connection no longer answers") from exc


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def read_only_sessions(
        factory: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Sessions for code that only reads: on PostgreSQL without a transaction around them.

    PostgreSQL's default isolation, READ COMMITTED, gives every statement its own snapshot
    whether or not a transaction encloses it, so a transaction around reads only adds two
    round trips (BEGIN and the ROLLBACK that ends it) and keeps nothing more consistent.
    Elsewhere (SQLite: its driver begins transactions only for writes) the same factory.
    Whatever is written through such a session is committed statement by statement.
    """
    bind = factory.kw.get("bind")
    if not isinstance(bind, AsyncEngine) or bind.dialect.name != "postgresql":
        return factory
    return async_sessionmaker(bind.execution_options(isolation_level="AUTOCOMMIT"),
                              expire_on_commit=False)

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings
from bot.logs import setup_logging
from tests.support import leaks
from tests.support.services import pg_url, require_postgres

os.environ.setdefault("LOG_FORMAT", "json")

TEST_TOKEN = "123456789:AAHtestTOKENtestTOKENtestTOKEN0123456"


def pytest_sessionstart(session: pytest.Session) -> None:
    # Everything the in-process tests log goes through the bot's own logging set-up into one
    # file, which is scanned for personal data when the run ends (see pytest_sessionfinish).
    # One file per run: parallel runs on one machine must not scan each other's logs.
    log_path = Path(os.environ.get("TEST_LOG_FILE", f"data/test-run-{os.getpid()}.log"))
    if log_path.exists():
        log_path.unlink()
    os.environ["TEST_LOG_FILE"] = str(log_path)
    setup_logging(fmt="json", level="DEBUG", log_file=log_path, secrets=(TEST_TOKEN,),
                  stream=False)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    logging.getLogger("asyncio").setLevel(logging.INFO)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    found = leaks.scan_files([Path(os.environ["TEST_LOG_FILE"]), *leaks.extra_files()],
                             secrets=(TEST_TOKEN,))
    if found:
        print("\nPERSONAL DATA FOUND IN THE LOGS OF THIS RUN:")
        for line in found[:20]:
            print("  " + line)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif "TEST_LOG_FILE_KEEP" not in os.environ:
        Path(os.environ["TEST_LOG_FILE"]).unlink(missing_ok=True)


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": TEST_TOKEN,
        "database_url": database_url,
        "telegram_api_url": "http://127.0.0.1:9",
        "privacy_policy_url": "https://example.org/privacy",
        # Scripted users type faster than any human; the throttling tests turn it on.
        "throttle_rate": 0,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"


async def _pg_admin(sql: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(pg_url("postgres").replace("postgresql+asyncpg", "postgresql"))
    try:
        await admin.execute(sql)
    finally:
        await admin.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for one test, dropped afterwards.

    Sync on purpose: the admin connection lives in its own short event loop, so it works from
    sync and async tests alike."""
    require_postgres()
    name = f"gasbot_{uuid.uuid4().hex[:12]}"
    asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"'))
    yield pg_url(name)
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Repository tests run on both backends."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    else:
        yield request.getfixturevalue("postgres_url")


@pytest.fixture
async def bot_env(sqlite_url: str) -> AsyncIterator[Callable[..., Any]]:
    """Builds a bot (real Dispatcher, recording session) on a fresh database."""
    from tests.support.botenv import BotEnv

    async with AsyncExitStack() as stack:
        envs: list[BotEnv] = []

        async def factory(**overrides: Any) -> BotEnv:
            settings = make_settings(overrides.pop("database_url", sqlite_url), **overrides)
            env = await BotEnv.open(settings, stack)
            envs.append(env)
            return env

        yield factory
        violations = [v for env in envs for v in env.session.violations]
        assert not violations, f"Bot API spec violations: {violations}"

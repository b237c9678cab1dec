"""Real PostgreSQL and Redis for the tests that concern them.

Unreachable → the test is skipped with the reason, except when CI is set (`.ci/run`), where
the service is required and the test fails instead.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

PG_HOST = os.environ.get("TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("TEST_PG_USER", "postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    reason = f"{service} is not reachable at {host}:{port}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (required in CI)")
    pytest.skip(reason)


def require_postgres() -> None:
    require("PostgreSQL", PG_HOST, PG_PORT)


def require_redis() -> None:
    from urllib.parse import urlparse

    parsed = urlparse(REDIS_URL)
    require("Redis", parsed.hostname or "127.0.0.1", parsed.port or 6379)


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


class RedisTrips(list[str]):
    """The round trips a Redis client makes inside `with RedisTrips(redis) as trips:` —
    each command by name, each pipeline once as "pipeline". Setting `commands = False`
    stops counting single commands (a test's own reads), pipelines still count."""

    def __init__(self, redis: Any) -> None:
        super().__init__()
        self.redis = redis
        self.commands = True

    def __enter__(self) -> RedisTrips:
        redis = self.redis
        self._execute, self._pipeline = redis.execute_command, redis.pipeline
        execute, pipeline = self._execute, self._pipeline

        async def counted(*args: Any, **kwargs: Any) -> Any:
            if self.commands:
                self.append(str(args[0]))
            return await execute(*args, **kwargs)

        def counted_pipeline(*args: Any, **kwargs: Any) -> Any:
            self.append("pipeline")
            return pipeline(*args, **kwargs)

        redis.execute_command = counted
        redis.pipeline = counted_pipeline
        return self

    def __exit__(self, *exc: object) -> None:
        self.redis.execute_command, self.redis.pipeline = self._execute, self._pipeline

"""Where one process spends its time on the benchmark's update mix, without HTTP.

    .venv/bin/python -m benchmarks.profile_updates [--store sqlite|postgres] [--rounds 200]
                                                   [--users 20] [--profile FILE]

The real Dispatcher, middlewares, services and database, and the recording session of the
tests in place of the Bot API (so the network and the webhook server are left out): each
user goes round the mix of `benchmarks.bench_webhook` (/start, «💰 Balance», /reading, the
value, «✅ Submit»), one update at a time. Prints milliseconds of wall time per update
(one update in flight at a time, so this is the CPU and the database round trips of one
update), and with --profile the top of a cProfile of the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bot  # noqa: F401  (before aiogram: see bot/aiogram_lazy.py)
from benchmarks.bench_webhook import register_and_link
from bot.config import Settings
from tests.support.botenv import BotEnv

TOKEN = "123456789:AAHbenchTOKENbenchTOKENbench0123456"


async def run(args: argparse.Namespace) -> None:
    async with contextlib.AsyncExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        overrides: dict[str, object] = {}
        if args.store == "postgres":
            from benchmarks.bench_webhook import fresh_postgres, fresh_redis

            url = await stack.enter_async_context(fresh_postgres())
            overrides["redis_url"] = await fresh_redis()
        else:
            url = f"sqlite+aiosqlite:///{workdir / 'bot.sqlite3'}"
        settings = Settings(_env_file=None, bot_token=TOKEN, database_url=url,  # type: ignore[call-arg]
                            throttle_rate=0, **overrides)
        env = await BotEnv.open(settings, stack)
        env.session.checker = None  # the tests' spec check is not the bot's cost
        clients = [(env.client(user_id, "en", "Bench"), account)
                   for user_id, account in await register_and_link(env.runtime, args.users,
                                                                   800_000)]

        steps: dict[str, list[float]] = {}
        trips = count_round_trips(env)
        counts: dict[str, list[tuple[int, int]]] = {}

        async def timed(name: str, call: Any) -> None:
            sql, redis = trips["sql"], trips["redis"]
            started = time.perf_counter()
            await call
            steps.setdefault(name, []).append(time.perf_counter() - started)
            counts.setdefault(name, []).append((trips["sql"] - sql, trips["redis"] - redis))

        async def round_of(client: Any, account: Any, n: int) -> int:
            await timed("/start", client.send("/start"))
            await timed("«💰 Balance»", client.send("💰 Balance"))
            await timed("/reading", client.send("/reading"))
            await timed("the value", client.send(str(account.baseline + 1 + n)))
            try:
                await timed("«✅ Submit»", client.click("✅ Submit"))
            except Exception:
                return 4
            return 5

        for client, account in clients:  # warm-up
            await round_of(client, account, 0)
        env.session.requests.clear()
        steps.clear()
        profiler = cProfile.Profile() if args.profile else None
        updates = 0
        started = time.perf_counter()
        cpu = time.process_time()
        if profiler:
            profiler.enable()
        for n in range(1, args.rounds + 1):
            client, account = clients[n % len(clients)]
            updates += await round_of(client, account, n)
            if n % 50 == 0:
                env.session.requests.clear()
        if profiler:
            profiler.disable()
        wall = time.perf_counter() - started
        cpu = time.process_time() - cpu
        print(f"| store | updates | wall ms/update | CPU ms/update |\n|---|---|---|---|\n"
              f"| {args.store} | {updates} | {wall / updates * 1000:.2f} | "
              f"{cpu / updates * 1000:.2f} |")
        print("\n| step | updates | mean wall ms | max wall ms | SQL statements | Redis commands |"
              "\n|---|---|---|---|---|---|")
        for name, times in steps.items():
            sql = sum(c[0] for c in counts[name]) / len(times)
            redis = sum(c[1] for c in counts[name]) / len(times)
            print(f"| {name} | {len(times)} | {sum(times) / len(times) * 1000:.2f} | "
                  f"{max(times) * 1000:.1f} | {sql:.1f} | {redis:.1f} |")
        if profiler:
            profiler.dump_stats(args.profile)
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(60)
            print(out.getvalue()[:12000])


def count_round_trips(env: BotEnv) -> dict[str, int]:
    """Counters of round trips: SQL statements and transaction control (BEGIN, COMMIT,
    ROLLBACK) actually sent, and Redis commands."""
    from sqlalchemy import event

    trips = {"sql": 0, "redis": 0}

    def statement(*_: Any) -> None:
        trips["sql"] += 1

    engine = env.runtime.engine.sync_engine
    event.listen(engine, "before_cursor_execute", statement)
    if engine.dialect.name == "postgresql":
        # What asyncpg sends: SQLAlchemy's begin/commit events fire in autocommit mode too.
        from asyncpg.transaction import Transaction

        for name in ("start", "commit", "rollback"):
            original = getattr(Transaction, name)

            async def counted_call(self: Any, *args: Any, _original: Any = original) -> Any:
                trips["sql"] += 1
                return await _original(self, *args)

            setattr(Transaction, name, counted_call)
    else:
        for name in ("begin", "commit", "rollback"):
            event.listen(engine, name, statement)
    redis = env.runtime.redis
    if redis is not None:
        original_command = redis.execute_command

        async def counted(*args: Any, **kwargs: Any) -> Any:
            trips["redis"] += 1
            return await original_command(*args, **kwargs)

        redis.execute_command = counted  # type: ignore[method-assign]
        original_pipeline = redis.pipeline

        def pipeline(*args: Any, **kwargs: Any) -> Any:  # a pipeline is one round trip
            pipe = original_pipeline(*args, **kwargs)
            original_execute = pipe.execute

            async def execute(*a: Any, **k: Any) -> Any:
                trips["redis"] += 1
                return await original_execute(*a, **k)

            pipe.execute = execute  # type: ignore[method-assign]
            return pipe

        redis.pipeline = pipeline  # type: ignore[method-assign]
    return trips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--profile", default=None)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

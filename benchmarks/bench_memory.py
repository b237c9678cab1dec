"""Peak memory (RSS) of a bot process with a big database: 100,000 users, 150,000 accounts.

    .venv/bin/python -m benchmarks.bench_memory [--users 100000] [--accounts 150000]
                                                [--store sqlite|postgres] [--duration 30]

The users and their linked accounts are bulk-inserted with SQL into a fresh database (SQLite
by default; `--store postgres` for PostgreSQL and Redis): registered users with consent, half
of them with two accounts; the accounts are the demo billing system's, so the balance and the
readings work for every user. Then the bot runs in webhook mode (with the reminders ticking
every 10 s: each tick plans over every linked account), serves a realistic sample of
updates from users of that database (the main menu, «💰 Balance», a meter reading; the
harness of `benchmarks.bench_webhook`), and its current and peak RSS (/proc VmRSS, VmHWM)
are read: at rest after start-up, and after the sample. For scale, the same for the bot on
an almost empty database and for the bare aiogram echo bot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from benchmarks.bench_webhook import (
    BenchAPI,
    BenchUser,
    Harness,
    Process,
    arguments,
    bench_settings,
    echo_bot,
    fresh_postgres,
    fresh_redis,
    gas_bot,
    machine,
    prepare_users,
    usable_accounts,
    workspace,
)

FIRST_ID = 10_000_000
BATCH = 5_000
SAMPLE_USERS = 400


async def fill(database_url: str, users: int, accounts: int) -> list[BenchUser]:
    """Bulk-insert the users and accounts; return sample users (one account each, one the
    script can read a meter of)."""
    from bot.app import open_runtime
    from bot.db.models import User
    from bot.db.models_accounts import LinkedAccount

    rng = random.Random(150_000)
    async with contextlib.AsyncExitStack() as stack:
        runtime = await open_runtime(bench_settings(database_url), stack)
        usable = await usable_accounts(runtime)
        everything = []
        for code in {s.code for s in runtime.app.catalog}:
            connector = runtime.app.billing.for_supplier(code)
            everything += await connector.demo_accounts([code])  # type: ignore[attr-defined]
        now = datetime.now(UTC)
        two = accounts - users  # users with a second account
        assert 0 <= two <= users, "between one and two accounts per user"
        user_rows: list[dict[str, Any]] = []
        account_rows: list[dict[str, Any]] = []
        sample: list[BenchUser] = []
        started = time.perf_counter()
        async with runtime.engine.begin() as connection:
            for n in range(users):
                user_id = FIRST_ID + n
                user_rows.append({
                    "id": user_id, "language": "ru" if n % 3 else "en",
                    "phone": f"7900{user_id:07d}", "email": None, "consent_at": now,
                    "consent_version": "2026-11", "registered_at": now, "created_at": now,
                    "updated_at": now})
                if n < two:
                    picks = rng.sample(everything, 2)
                else:
                    entry, account = usable[n % len(usable)]
                    picks = [entry]
                    if len(sample) < SAMPLE_USERS and n % 97 == 0:
                        sample.append(BenchUser(user_id, account))
                        user_rows[-1]["language"] = "en"  # the harness reads English
                for k, entry in enumerate(picks):
                    account_rows.append({
                        "user_id": user_id, "supplier_code": entry.ref.supplier_code,
                        "number": entry.ref.number, "unit": entry.ref.unit, "alias": None,
                        "is_default": k == 0, "owner_masked": "Ив**** И. И.",
                        "address_masked": "г. К*******, ул. Л*****, д. *", "linked_at": now})
                if len(user_rows) >= BATCH:
                    await connection.execute(insert(User), user_rows)
                    await connection.execute(insert(LinkedAccount), account_rows)
                    user_rows, account_rows = [], []
            if user_rows:
                await connection.execute(insert(User), user_rows)
                await connection.execute(insert(LinkedAccount), account_rows)
        print(f"  inserted {users} users and {accounts} accounts in "
              f"{time.perf_counter() - started:.0f} s", flush=True)
        return sample


async def run_bot(name: str, api: BenchAPI, bot: Process, users: list[BenchUser],
                  duration: float) -> list[str]:
    await bot.start()
    try:
        await asyncio.sleep(15)  # start-up done, the reminders have ticked twice
        rest = bot.rss_mb()
        async with Harness(api, [bot], users) as harness:
            stats = await harness.closed_loop(16, duration)
        api.trim()
        await asyncio.sleep(12)  # another tick after the load
        current, peak = bot.rss_mb()
    finally:
        bot.stop()
    print(f"  {name}: {stats.completed} updates served, {stats.timeouts} timeouts; "
          f"RSS at rest {rest[0]:.0f} MiB, after {current:.0f} MiB, peak {peak:.0f} MiB",
          flush=True)
    return [name, f"{rest[0]:.0f}", f"{current:.0f}", f"{peak:.0f}", str(stats.completed)]


async def main(argv: list[str] | None = None) -> int:
    def sizes(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--big-users", type=int, default=100_000)
        parser.add_argument("--big-accounts", type=int, default=150_000)

    args = arguments(argv, sizes, duration=30.0)
    big_users, big_accounts = args.big_users, args.big_accounts
    print(machine(), flush=True)
    rows: list[list[str]] = []
    async with contextlib.AsyncExitStack() as stack:
        workdir = stack.enter_context(workspace(args.workdir))
        async with BenchAPI() as api:
            tick = {"REMINDERS_TICK_SECONDS": "10"}
            for label, size in (("gas bot, 400 users", None),
                                (f"gas bot, {big_users:,} users / {big_accounts:,} accounts",
                                 (big_users, big_accounts))):
                redis_url = None
                if args.store == "postgres":
                    database_url = await stack.enter_async_context(fresh_postgres())
                    redis_url = await fresh_redis()
                else:
                    name = "small" if size is None else "big"
                    database_url = f"sqlite+aiosqlite:///{workdir / name}.sqlite3"
                if size is None:
                    users = await prepare_users(database_url, SAMPLE_USERS)
                else:
                    print(f"filling the database: {size[0]:,} users, {size[1]:,} accounts ...",
                          flush=True)
                    users = await fill(database_url, *size)
                bot = gas_bot(api, workdir, f"gasbot-{len(rows)}", database_url, redis_url,
                              **tick)
                rows.append(await run_bot(label, api, bot, users, args.duration))
            echo = echo_bot(api, workdir)
            rows.append(await run_bot("aiogram echo", api, echo, users, args.duration))
    print()
    header = ["process", "RSS at rest, MiB", "RSS after, MiB", "peak RSS, MiB", "updates"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for i, line in enumerate([header, *rows]):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print(f"\ntarget: peak RSS < 200 MiB with {big_users:,} users; measured "
          f"{rows[1][3]} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

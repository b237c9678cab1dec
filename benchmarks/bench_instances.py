"""Scale-out: one and two gas bot instances on one PostgreSQL and one Redis, behind a
round-robin load balancer, next to the bare aiogram echo bot.

    .venv/bin/python -m benchmarks.bench_instances [--rate 100 30] [--duration 30]
                                                   [--instances 1 2]

The same harness, users and update mix as `benchmarks.bench_webhook` (read its docstring):
the harness plays Telegram and the load balancer at once, sending each update to the next
instance in turn, so one user's updates alternate between the instances — the FSM state,
the per-user lock, the repeated-update filter and the flood limit all live in Redis.
Needs PostgreSQL (a database is created and dropped: BENCH_PG_ADMIN) and Redis
(BENCH_REDIS_URL, flushed); the machine's cores are shared by the instances, PostgreSQL,
Redis and the harness, which the CPU lines show.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_webhook import (
    BenchAPI,
    Row,
    arguments,
    fresh_postgres,
    fresh_redis,
    gas_bot,
    machine,
    measure,
    measure_echo,
    prepare_users,
    print_summary,
    print_table,
    scrape,
    workspace,
)


def _instances_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2], choices=(1, 2),
                        help="how many instances to measure (several: one run each)")


async def main(argv: list[str] | None = None) -> int:
    args = arguments(argv, more=_instances_option)
    args.instances = sorted(set(args.instances))
    print(machine(), flush=True)
    rows: list[Row] = []
    outcomes = {}
    async with contextlib.AsyncExitStack() as stack:
        workdir = stack.enter_context(workspace(args.workdir))
        database_url = await stack.enter_async_context(fresh_postgres())
        redis_url = await fresh_redis()
        print(f"registering {args.users} users with a linked account ...", flush=True)
        users = await prepare_users(database_url, args.users)
        async with BenchAPI() as api:
            for count in args.instances:
                bots = [gas_bot(api, workdir, f"gasbot-{count}-{n}", database_url, redis_url)
                        for n in range(count)]
                try:
                    for bot in bots:  # one by one: the first applies the migrations
                        await bot.start()
                    label = f"gas bot x{count} (PostgreSQL + Redis)"
                    rows += await measure(label, api, bots, users, args)
                    outcomes[count] = [await scrape(bot) for bot in bots]
                finally:
                    for bot in bots:
                        bot.stop()
            rows += await measure_echo(api, workdir, users, args)
            violations = len(api.violations)
    print()
    print_table(rows)
    labels = [f"gas bot x{count} (PostgreSQL + Redis)" for count in args.instances]
    print()
    print_summary(rows, args, labels)
    closed = [r.stats.throughput for r in rows if r.load.startswith("closed")]
    if args.instances == [1, 2]:
        print(f"two instances / one at full load: {closed[1] / closed[0]:.2f}")
    for count, per_instance in outcomes.items():
        print(f"updates by outcome, {count} instance(s): {per_instance}")
    print(f"Bot API spec violations: {violations}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

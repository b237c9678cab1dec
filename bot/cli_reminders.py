"""Operator commands of the reminders.

    python -m bot reminders due --at 2026-11-15T10:00+03:00 [--json]
    python -m bot reminders send-due --at 2026-11-15T10:00+03:00 [--rate 10] [--max-wait 300]
    python -m bot demo-seed --users 10000 [--supplier mrg_moscow] [--first-id 9100000000]

`due` lists what is due at that moment and what the outbox knows of it (nothing is sent;
account numbers are masked); it needs only the database. `send-due` writes the same
reminders to the outbox and sends them through the path the running bot uses (rate limiter,
429/403 handling, retries), so running it twice for one moment sends nothing the second time;
it needs BOT_TOKEN. Both are for catching up after an outage, and for tests and benchmarks.
`demo-seed` creates registered users with linked demo accounts (their reminders have the
defaults: all on), in bulk.

Only the listing or the summary goes to stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import ToolSettings, load_settings, load_tool_settings
from bot.db import migrate
from bot.db.engine import create_engine, create_session_factory
from bot.db.models import utcnow
from bot.db.repositories.reminders import DemoSeedRepository, ReminderRepository
from bot.logs import ConsoleFormatter, JsonFormatter, ScrubFilter
from bot.reminders.planner import due_at
from bot.services.reminders import PLAN_BATCH, account_plans
from bot.suppliers.accounts import mask_account
from bot.suppliers.loader import load_catalog
from bot.suppliers.models import Catalog

__all__ = ["add_commands", "parse_moment", "run", "seed_demo_users"]

DEMO_FIRST_ID = 9_100_000_000


async def seed_demo_users(factory: async_sessionmaker[AsyncSession], catalog: Catalog,
                          users: int, *, supplier: str | None = None,
                          first_id: int = DEMO_FIRST_ID) -> tuple[int, int, int]:
    """Registered users `first_id`… with one demo account each (round robin over the demo
    accounts of `supplier`, or of all suppliers). Returns the users and accounts in that id
    range afterwards, and how many distinct demo accounts were used."""
    from bot.billing.demo import DemoBillingConnector

    connector = DemoBillingConnector(factory, catalog, utcnow)
    entries = await connector.demo_accounts([supplier] if supplier else None)
    infos = [await connector.find_account(entry.ref) for entry in entries]
    now = utcnow()
    user_rows = [{"id": first_id + i, "language": "ru", "consent_at": now,
                  "consent_version": "demo-seed", "registered_at": now,
                  "created_at": now, "updated_at": now} for i in range(users)]
    account_rows = []
    for i in range(users):
        info = infos[i % len(infos)]
        account_rows.append({
            "user_id": first_id + i, "supplier_code": info.ref.supplier_code,
            "number": info.ref.number, "unit": info.ref.unit, "is_default": True,
            "owner_masked": info.owner_masked, "address_masked": info.address_masked,
            "linked_at": now})
    async with factory() as session:
        user_count, account_count = await DemoSeedRepository(session).insert(
            user_rows, account_rows)
    return user_count, account_count, len(infos)


def add_commands(sub: Any) -> None:
    """The `reminders` and `demo-seed` sub-commands, added to `python -m bot`'s parser."""
    reminders = sub.add_parser("reminders", help="operators: reminders due at a moment")
    actions = reminders.add_subparsers(dest="reminders_command", required=True)
    due = actions.add_parser("due", help="list the reminders due at --at (sends nothing)")
    due.add_argument("--at", required=True, help="ISO date-time with offset, e.g. "
                                                 "2026-11-15T10:00+03:00")
    due.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    send = actions.add_parser("send-due", help="send the reminders due at --at (once)")
    send.add_argument("--at", required=True, help="ISO date-time with offset")
    send.add_argument("--rate", type=float, default=None,
                      help="messages a second (default REMINDERS_RATE)")
    send.add_argument("--max-wait", type=float, default=300.0,
                      help="seconds to wait for retries (429, errors) before giving up")
    seed = sub.add_parser("demo-seed", help="load tests: registered users with demo accounts")
    seed.add_argument("--users", type=int, required=True, help="how many users")
    seed.add_argument("--supplier", default=None,
                      help="link accounts of this supplier only (default: all demo accounts)")
    seed.add_argument("--first-id", type=int, default=DEMO_FIRST_ID,
                      help=f"Telegram id of the first user (default {DEMO_FIRST_ID})")


async def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    stream = out if out is not None else sys.stdout
    if args.command == "demo-seed":
        return await _demo_seed(args.users, args.supplier, args.first_id, stream)
    try:
        moment = parse_moment(args.at)
    except ValueError as exc:
        print(f"--at: {exc}", file=sys.stderr)
        return 2
    if args.reminders_command == "due":
        return await _due(moment, as_json=args.json, out=stream)
    return await _send_due(moment, args.rate, args.max_wait, stream)


def parse_moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"cannot read {text!r}; use e.g. 2026-11-15T10:00+03:00") from None
    if moment.tzinfo is None:
        raise ValueError("give the UTC offset, e.g. 2026-11-15T10:00+03:00 (Moscow time)")
    return moment


def _log_to_stderr(settings: ToolSettings, secrets: tuple[str, ...] = ()) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else ConsoleFormatter())
    handler.addFilter(ScrubFilter(secrets))
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


async def _due(moment: datetime, *, as_json: bool, out: TextIO) -> int:
    settings = load_tool_settings()
    _log_to_stderr(settings)
    catalog = load_catalog(override=settings.suppliers_file)
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        async with create_session_factory(engine)() as session:
            repo = ReminderRepository(session)
            grace = timedelta(hours=settings.reminders_grace_hours)
            numbers: dict[int, tuple[str, str]] = {}
            due = []
            after = 0
            while rows := await repo.plan_rows(after_id=after, limit=PLAN_BATCH):
                batch = due_at(account_plans(rows, catalog), moment, grace)
                numbers.update({row.account_id: (row.supplier_code, row.number)
                                for row in rows})
                due.extend(batch)
                after = rows[-1].account_id
            due.sort(key=lambda item: (item.scheduled_at, item.user_id, item.account_id,
                                       item.kind))
            statuses = await repo.statuses([item.key for item in due])
    finally:
        await engine.dispose()
    lines = []
    for item in due:
        supplier, number = numbers[item.account_id]
        record = {
            "scheduled_at": item.scheduled_at.isoformat(), "kind": item.kind.value,
            "user_id": item.user_id, "account_id": item.account_id, "supplier": supplier,
            "account": mask_account(number), "period": str(item.period),
            "outbox": statuses.get(item.key, "new"),
        }
        lines.append(json.dumps(record, ensure_ascii=False) if as_json else
                     "  ".join([item.scheduled_at.strftime("%Y-%m-%d %H:%M %Z"),
                                f"{item.kind.value:<8}", f"user {item.user_id}",
                                f"{supplier} {mask_account(number)}", str(item.period),
                                statuses.get(item.key, "new")]))
    if not as_json:
        counts = Counter(statuses.get(item.key, "new") for item in due)
        summary = ", ".join(f"{count} {status}" for status, count in sorted(counts.items()))
        lines.append(f"{len(due)} due at {moment.isoformat()}" + (f": {summary}" if due else ""))
    out.write("\n".join(lines) + ("\n" if lines else ""))
    out.flush()
    return 0


async def _send_due(moment: datetime, rate: float | None, max_wait: float, out: TextIO) -> int:
    from bot.app import create_bot, open_runtime
    from bot.reminders.content import ReminderContent
    from bot.reminders.delivery import Sender
    from bot.reminders.ratelimit import RateLimiter
    from bot.services.reminders import ReminderService

    settings = load_settings()
    _log_to_stderr(settings, (settings.bot_token.get_secret_value(),))
    async with AsyncExitStack() as stack:
        runtime = await open_runtime(settings, stack)
        bot = create_bot(settings)
        stack.push_async_callback(bot.session.close)
        app = runtime.app
        async with app.session_factory() as session:
            result = await ReminderService(session, app).enqueue_due(moment)
        grace = timedelta(hours=settings.reminders_grace_hours)
        sender = Sender(bot, app, ReminderContent(app, runtime.i18n, grace=grace),
                        RateLimiter(rate or settings.reminders_rate), metrics=runtime.metrics,
                        max_attempts=settings.reminders_max_attempts)
        stats = await sender.drain(wait_for_retries=max_wait)
        async with app.session_factory() as session:
            counts = Counter((await ReminderRepository(session).statuses(result.keys)).values())
    reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(stats.reasons.items()))
    out.write(
        f"{len(result.due)} due at {moment.isoformat()}, {result.new} new in the outbox\n"
        f"this run: sent {stats.sent}, failed {stats.failed}, paused {stats.paused}, "
        f"skipped {stats.skipped}, deferred {stats.deferred}, 429s {stats.throttled}"
        + (f" ({reasons})" if reasons else "") + "\n"
        + "outbox for these: " + ", ".join(f"{status} {count}"
                                           for status, count in sorted(counts.items())) + "\n")
    out.flush()
    return 1 if stats.failed else 0


async def _demo_seed(users: int, supplier: str | None, first_id: int, out: TextIO) -> int:
    if users < 1:
        print("--users: at least 1", file=sys.stderr)
        return 2
    settings = load_tool_settings()
    _log_to_stderr(settings)
    catalog = load_catalog(override=settings.suppliers_file)
    if supplier is not None and catalog.get(supplier) is None:
        print(f"--supplier: no supplier {supplier!r} in the catalog", file=sys.stderr)
        return 2
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        user_count, account_count, kinds = await seed_demo_users(
            create_session_factory(engine), catalog, users, supplier=supplier,
            first_id=first_id)
    finally:
        await engine.dispose()
    out.write(f"{user_count} demo users (ids {first_id}–{first_id + users - 1}) with "
              f"{account_count} linked accounts of {kinds} demo accounts; "
              f"reminders: the defaults (all on)\n")
    out.flush()
    return 0

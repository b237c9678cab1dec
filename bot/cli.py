"""Sub-commands of `python -m bot`. Each one loads the settings it needs and nothing more."""

from __future__ import annotations

import argparse
import logging

from bot.config import load_settings, load_tool_settings
from bot.logs import setup_logging

logger = logging.getLogger("bot")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Gas subscriber bot")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (default): polling or webhook, per MODE")
    sub.add_parser("migrate", help="apply database migrations and exit")
    sub.add_parser("i18n", help="developers: extract strings and update locales/*.po")
    logs = sub.add_parser("logs", help="support: a user's recent events from the event log")
    logs.add_argument("--user", type=int, required=True, help="Telegram user id")
    logs.add_argument("--since", default="24h", help="how far back: 90m, 2h, 3d (default 24h)")
    logs.add_argument("--json", action="store_true", help="JSON lines instead of text")
    demo = sub.add_parser("demo-accounts",
                          help="print the demo billing accounts and how to link each one")
    demo.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    from bot.cli_reminders import add_commands as add_reminder_commands

    add_reminder_commands(sub)  # reminders due|send-due --at, demo-seed --users
    return parser


async def dispatch_command(args: argparse.Namespace) -> int:
    command = args.command or "run"
    if command == "migrate":
        return await _migrate()
    if command == "demo-accounts":
        from bot.cli_demo import run as demo_accounts

        return await demo_accounts(as_json=args.json)
    if command == "logs":
        return await _logs(args.user, args.since, as_json=args.json)
    if command in ("reminders", "demo-seed"):
        from bot.cli_reminders import run as reminder_command

        return await reminder_command(args)
    if command == "i18n":
        from bot.i18n_catalogs import main as i18n_main

        return i18n_main()
    return await _run()


async def _run() -> int:
    from bot.runners import run

    settings = load_settings()
    setup_logging(fmt=settings.log_format, level=settings.log_level, log_file=settings.log_file,
                  secrets=(settings.bot_token.get_secret_value(),))
    await run(settings)
    return 0


async def _logs(user_id: int, since: str, *, as_json: bool) -> int:
    import json
    import sys
    from datetime import UTC, datetime

    from bot.db import migrate
    from bot.db.engine import create_engine, create_session_factory
    from bot.db.repositories.events import EventLogRepository
    from bot.event_store import event_as_dict, format_event, parse_since

    settings = load_tool_settings()
    try:
        window = parse_since(since)
    except ValueError:
        print(f"--since: cannot read {since!r}; use e.g. 90m, 2h, 3d", file=sys.stderr)
        return 2
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        async with create_session_factory(engine)() as session:
            events = await EventLogRepository(session).for_user(
                user_id, datetime.now(UTC) - window, limit=10_000)
    finally:
        await engine.dispose()
    for event in events:
        print(json.dumps(event_as_dict(event), ensure_ascii=False) if as_json
              else format_event(event))
    if not events and not as_json:
        print(f"no events for user {user_id} in the last {since}", file=sys.stderr)
    return 0


async def _migrate() -> int:
    from bot.db import migrate
    from bot.db.engine import create_engine

    settings = load_tool_settings()
    setup_logging(fmt=settings.log_format, level=settings.log_level, log_file=settings.log_file)
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        logger.info("database at revision %s", await migrate.current_revision(engine))
    finally:
        await engine.dispose()
    return 0

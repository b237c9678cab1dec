"""Sub-commands of `python -m bot`. Each one loads the settings it needs and nothing more."""

from __future__ import annotations

import argparse
import logging

from bot.config import load_settings
from bot.logs import setup_logging

logger = logging.getLogger("bot")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Gas subscriber bot")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (default): polling or webhook, per MODE")
    sub.add_parser("migrate", help="apply database migrations and exit")
    sub.add_parser("i18n", help="developers: extract strings and update locales/*.po")
    return parser


async def dispatch_command(args: argparse.Namespace) -> int:
    command = args.command or "run"
    if command == "migrate":
        return await _migrate()
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


async def _migrate() -> int:
    from bot.db import migrate
    from bot.db.engine import create_engine

    settings = load_settings()
    setup_logging(fmt=settings.log_format, level=settings.log_level, log_file=settings.log_file,
                  secrets=(settings.bot_token.get_secret_value(),))
    engine = create_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
        logger.info("database at revision %s", await migrate.current_revision(engine))
    finally:
        await engine.dispose()
    return 0

"""The baseline for the webhook benchmarks: a bare aiogram echo bot, nothing else.

Webhook mode as the gas bot runs it (aiohttp, `SimpleRequestHandler` handling updates in the
background after the 200, the secret token checked, HTML parse mode), and no middlewares,
database, Redis, i18n or event log: what aiogram itself costs. A message is echoed; a button
press is answered and echoed, so every update the benchmark sends gets one message back.

    BOT_TOKEN=... TELEGRAM_API_URL=http://127.0.0.1:8081 WEBHOOK_PORT=8090 \\
    WEBHOOK_SECRET=... .venv/bin/python -m benchmarks.echo_bot
"""

from __future__ import annotations

import asyncio
import os
import signal

from aiogram import Bot, Dispatcher, html
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import CallbackQuery, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web


def build_dispatcher() -> Dispatcher:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(html.quote(message.text or "…"))

    @dp.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(html.quote(query.data or "…"))

    return dp


async def main() -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(os.environ["TELEGRAM_API_URL"]))
    bot = Bot(os.environ["BOT_TOKEN"], session=session,
              default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    dp = build_dispatcher()
    app = web.Application()
    SimpleRequestHandler(dispatcher=dp, bot=bot,
                         secret_token=os.environ["WEBHOOK_SECRET"]).register(app, path="/webhook")
    setup_application(app, dp, bot=bot)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", int(os.environ["WEBHOOK_PORT"]))
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())

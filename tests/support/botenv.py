from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.types import User

from bot.app import Runtime, create_bot, create_dispatcher, open_runtime
from bot.config import Settings
from tests.botapi.spec import SpecChecker
from tests.support.client import ChatClient
from tests.support.fake_session import RecordingSession

BOT_USER = User(id=123456789, is_bot=True, first_name="Gas", username="gas_test_bot")


@dataclass
class BotEnv:
    settings: Settings
    runtime: Runtime
    dp: Dispatcher
    bot: Bot
    session: RecordingSession

    @classmethod
    async def open(cls, settings: Settings, stack: AsyncExitStack) -> BotEnv:
        runtime = await open_runtime(settings, stack)
        session = RecordingSession(BOT_USER)
        # Every request of every conversation test is checked against the Bot API spec.
        session.checker = SpecChecker.load()
        bot = create_bot(settings, session=session)
        dp = create_dispatcher(runtime)
        return cls(settings, runtime, dp, bot, session)

    def client(self, user_id: int = 5001, language_code: str | None = "ru",
               first_name: str = "Иван") -> ChatClient:
        return ChatClient(self.dp, self.bot, self.session, user_id, language_code, first_name)

    async def restart(self, stack: AsyncExitStack) -> BotEnv:
        """A new process in all but name: new runtime and dispatcher, same database."""
        return await BotEnv.open(self.settings, stack)

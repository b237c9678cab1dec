"""End-to-end harness: the bot as a separate process (`python -m bot`, as the README runs it)
against the local Bot API server of tests/botapi, which checks every request against the
official spec."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from tests.botapi import updates
from tests.botapi.server import ApiCall, FakeBotAPI

ROOT = Path(__file__).resolve().parents[2]


class BotProcess:
    def __init__(self, api: FakeBotAPI, workdir: Path, **env: str) -> None:
        self.api = api
        self.workdir = workdir
        self.log_file = workdir / "bot.log"
        self.env = {
            **{k: v for k, v in os.environ.items()
               if not k.startswith(("BOT_", "DATABASE_", "REDIS_", "MODE", "WEBHOOK_", "LOG_"))},
            "BOT_TOKEN": api.token,
            "TELEGRAM_API_URL": api.base_url,
            "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bot.sqlite3'}",
            "LOG_FORMAT": "json",
            "LOG_FILE": str(self.log_file),
            "LOG_LEVEL": "DEBUG",
            **env,
        }
        self.proc: asyncio.subprocess.Process | None = None
        # A file, not a pipe: an unread pipe fills up and blocks the bot's logging.
        self.stdout_path = workdir / "stdout.txt"

    async def start(self, *, wait_polling: bool = True) -> None:
        since = self.api.mark()
        with self.stdout_path.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=self.workdir, env=self.env,
                stdout=out, stderr=asyncio.subprocess.STDOUT,
            )
        if wait_polling:
            try:
                await self.api.wait_for_method("getUpdates", timeout=30, since=since)
            except TimeoutError:
                await self.kill()
                raise AssertionError(f"the bot did not start polling:\n{self.output}") from None

    async def stop(self, timeout: float = 20) -> int:
        """SIGTERM, as an operator or a process manager stops it; returns the exit code."""
        assert self.proc is not None
        with suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(self.proc.wait(), timeout)
        return self.proc.returncode if self.proc.returncode is not None else -1

    @property
    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    async def kill(self) -> None:
        """kill -9: no shutdown hooks, as a crash."""
        if self.proc is None or self.proc.returncode is not None:
            return
        with suppress(ProcessLookupError):
            self.proc.kill()
        await self.proc.wait()

    def log_events(self) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line]


class E2EUser:
    """A Telegram user typing into the private chat with the bot."""

    def __init__(self, api: FakeBotAPI, user_id: int, first_name: str = "Иван",
                 language_code: str | None = "ru") -> None:
        self.api = api
        self.user = updates.tg_user(user_id, first_name, language_code)
        self.id = user_id

    async def _push(self, update: dict[str, Any], expect: Callable[[ApiCall], bool] | None,
                    timeout: float) -> ApiCall:
        since = self.api.mark()
        self.api.push_update(update)
        predicate = expect or (lambda c: c.method in {"sendMessage", "sendPhoto", "sendDocument"}
                               and c.chat_id == self.id)
        try:
            call = await self.api.wait_for(predicate, timeout, since=since)
        except TimeoutError as exc:
            raise AssertionError(
                f"{exc}\npending updates: {self.api.pending_updates}\n"
                f"allowed_updates: {self.api.allowed_updates}\n"
                + "\n".join(f"{c.time:.3f} {c.method} {c.status} {c.params} -> {c.response}"[:400]
                            for c in self.api.calls[since - 3:])
            ) from None
        await self.settle()
        return call

    async def settle(self, quiet: float = 0.25) -> None:
        """One update may produce several messages: wait until the bot has gone quiet."""
        count = -1
        while count != len(self.api.calls):
            count = len(self.api.calls)
            await asyncio.sleep(quiet)

    async def send(self, text: str, *, expect: Callable[[ApiCall], bool] | None = None,
                   timeout: float = 15) -> ApiCall:
        if text.startswith("/"):
            name, _, payload = text.partition(" ")
            update = updates.command(self.user, name, payload or None)
        else:
            update = updates.message(self.user, text)
        return await self._push(update, expect, timeout)

    async def share_contact(self, phone: str, owner_id: int | None = None,
                            timeout: float = 15) -> ApiCall:
        update = updates.contact(self.user, phone, owner_id if owner_id is not None else self.id)
        return await self._push(update, None, timeout)

    async def send_sticker(self, timeout: float = 15) -> ApiCall:
        return await self._push(updates.sticker(self.user), None, timeout)

    def last_message_with_button(self, text: str) -> tuple[dict[str, Any], str]:
        for message in reversed(self.api.messages_in(self.id)):
            markup = message.get("reply_markup") or {}
            for row in markup.get("inline_keyboard", []):
                for button in row:
                    if button.get("text") == text and "callback_data" in button:
                        return message, button["callback_data"]
        raise AssertionError(f"no bot message with the inline button {text!r}")

    async def click(self, text: str, *, expect: Callable[[ApiCall], bool] | None = None,
                    timeout: float = 15) -> ApiCall:
        message, data = self.last_message_with_button(text)
        update = updates.callback(self.user, data, message)
        query_id = update["callback_query"]["id"]
        since = self.api.mark()
        self.api.push_update(update)
        await self.api.wait_for(
            lambda c: c.method == "answerCallbackQuery"
            and str(c.params.get("callback_query_id")) == query_id, timeout, since=since)
        # A button may answer with a new message or by editing its own (page arrows).
        predicate = expect or (lambda c: c.method in {
            "sendMessage", "sendPhoto", "sendDocument", "editMessageText",
            "editMessageReplyMarkup"} and c.chat_id == self.id)
        call = await self.api.wait_for(predicate, timeout, since=since)
        await self.settle()
        return call

    def texts(self) -> list[str]:
        return [str(c.params.get("text") or c.params.get("caption") or "")
                for c in self.api.sent_to(self.id)]

"""Property-based fuzzing of the whole bot through the real Dispatcher.

Random sequences of what users can send — any text (emoji, readings, e-mails, account-like
digit runs, supplier names), every command with random arguments and deep-link payloads,
main-menu entries, the buttons of the last reply keyboard, presses of any inline button the
bot has sent so far (current or long stale), forged callback data of every CallbackData
class with random field values, contacts (own and someone else's), stickers, photos and
locations — from several users at once: one new, one registered, one registered with linked
accounts. Whatever they do:

* nothing raises: no error-router apology, no `bot_errors_total`, no ERROR log line;
* every message in the private chat is answered (a message sent or edited in that chat);
* every button press is answered exactly once;
* every request is a valid Bot API call (the recording session checks each against the spec;
  the `bot_env` fixture also fails the test at teardown).

One bot per test (a runtime costs a database and migrations); each example gets fresh user
ids, so examples do not see each other's conversations.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from aiogram import F
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    Contact,
    InlineKeyboardMarkup,
    Location,
    Message,
    MessageEntity,
    PhotoSize,
    ReplyKeyboardMarkup,
    Sticker,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.billing.demo import DemoAccountEntry
from bot.callbacks import ALL_CALLBACKS
from bot.db.models_support import TicketTopic
from bot.keyboards import common as menu
from bot.reminders.models import ReminderKind
from bot.services import Services
from tests.support.botenv import BOT_USER
from tests.support.client import ChatClient
from tests.support.leaks import remember
from tests.test_linking import entries
from tests.test_readings import NOON

APOLOGY = ("Something went wrong", "Что-то пошло не так")
COMMANDS = ("start", "link", "balance", "reading", "pay", "receipt", "accounts", "settings",
            "support", "reminders", "cancel", "help", "stats", "logs", "close", "unknown")
DEEP_LINKS = ("link", "balance", "reading", "pay", "receipt", "settings", "help", "support",
              "reminders", "accounts", "nonsense")
MENU = tuple(getattr(menu, name) for name in dir(menu) if name.startswith("MENU_"))
PHONE = "+79001112233"
FOREIGN_PHONE = "+79004445566"
remember(PHONE.lstrip("+"), FOREIGN_PHONE.lstrip("+"))

# --- what users send ------------------------------------------------------------------------

_printable = st.characters(blacklist_categories=("Cs", "Cc"))
_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=20)
texts = st.one_of(
    st.text(_printable, min_size=1, max_size=60),
    st.sampled_from(["🙂", "👍🏻🔥", "пермь", "Москва", "крым", "Perm", "севгаз", "0", "-5",
                     "1e9", "NaN", "  12 345,678 ", "Иванов", "ivanov", "<b>x</b>", "&amp;",
                     "да", "yes", "/", "//", "🔢", "✅ Согласен", "Skip ➡️"]),
    st.decimals(min_value=-1000, max_value=10**7, places=3, allow_nan=False).map(str),
    st.decimals(min_value=0, max_value=99999, places=2, allow_nan=False).map(
        lambda d: str(d).replace(".", ",")),
    st.integers(min_value=0, max_value=10**12).map(str),
    st.from_regex(r"\A[0-9]{6,12}\Z"),  # account-number-like
    st.from_regex(r"\A[0-9]{2,4}[ -][0-9]{2,6}\Z"),
    st.emails().map(lambda e: e[:254]),
    st.sampled_from(["+7 900 111-22-33", "89001112233", "user@example", "@name"]),
).filter(lambda t: t.strip() != "")


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Command:
    name: str
    args: str | None
    mention: bool  # /help@gas_test_bot


@dataclass(frozen=True)
class MenuEntry:
    index: int
    lang: str


@dataclass(frozen=True)
class ReplyButton:
    index: int  # of the buttons of the last reply keyboard the user was shown


@dataclass(frozen=True)
class Press:
    index: int
    # A button of the bot's latest message with buttons (walks a conversation on), or any
    # button the bot has sent to the user so far, oldest first (mostly stale ones).
    latest: bool


@dataclass(frozen=True)
class Forged:
    data: str  # packed callback data of one of ALL_CALLBACKS, field values made up


@dataclass(frozen=True)
class SharedContact:
    own: bool


@dataclass(frozen=True)
class Media:
    kind: str  # sticker | photo | location


_payloads = st.one_of(
    st.none(),
    st.sampled_from(DEEP_LINKS),
    st.tuples(st.sampled_from(DEEP_LINKS), st.integers(-5, 10**6)).map(lambda t: f"{t[0]}_{t[1]}"),
    st.tuples(st.sampled_from(DEEP_LINKS), _token).map(lambda t: f"{t[0]}_{t[1]}"),
    st.text(alphabet="ABCXYZabcxyz0189_-", min_size=1, max_size=64),
)
_words = ["start", "browse", "search", "retry", "show", "list", "open", "rename", "unalias",
          "default", "unlink", "unlink_yes", "new", "pick", "all", "pay", "chg", "det", "due",
          "custom", "get", "reply", "close", "acc", "remind", "hist", "chart", "submit", "edit",
          "cancel", "lang", "phone", "email", "email_clear", "delete", "delete_yes",
          "delete_no", "reg", "set", "unit", "reading", "receipt", "off", "on", "ru", "en",
          "de", "mrg_perm", "crimea", "sevgas", "2026-11", "2019-01", "s", "e3", "0900",
          *[t.value for t in TicketTopic], *[k.value for k in ReminderKind]]


def _field_values(annotation: Any) -> st.SearchStrategy[Any]:
    types = set(get_args(annotation)) or {annotation}
    if bool in types or annotation == "bool":
        return st.booleans()
    if int in types or annotation == "int":
        return st.one_of(st.integers(-3, 12), st.integers(-(2**40), 2**40))
    return st.one_of(st.sampled_from(_words), _token, st.just(""))


def _forged(cls: type[CallbackData]) -> st.SearchStrategy[str]:
    fields = {name: _field_values(info.annotation) for name, info in cls.model_fields.items()}
    return st.fixed_dictionaries(fields).map(lambda values: cls(**values).pack())


forged_data = st.one_of(*(_forged(cls) for cls in ALL_CALLBACKS)).filter(
    lambda data: len(data.encode()) <= 64)

# Weights: commands open conversations, presses of the bot's own buttons and of the reply
# keyboard walk through them, texts answer their steps (or do not); the rest is spice.
_STEPS: dict[str, tuple[int, st.SearchStrategy[Any]]] = {
    "command": (4, st.builds(Command, st.sampled_from(COMMANDS), _payloads, st.booleans())),
    "press": (6, st.builds(Press, st.integers(0, 10_000), st.booleans())),
    "reply": (3, st.builds(ReplyButton, st.integers(0, 100))),
    "text": (4, st.builds(Text, texts)),
    "menu": (1, st.builds(MenuEntry, st.integers(0, 100), st.sampled_from(["ru", "en"]))),
    "forged": (1, st.builds(Forged, forged_data)),
    "contact": (1, st.builds(SharedContact, st.booleans())),
    "media": (1, st.builds(Media, st.sampled_from(["sticker", "photo", "location"]))),
}
steps = st.sampled_from([kind for kind, (weight, _) in _STEPS.items() for _ in range(weight)]
                        ).flatmap(lambda kind: _STEPS[kind][1])
USERS = 3  # new, registered, registered with linked accounts
scripts = st.lists(st.tuples(st.integers(0, USERS - 1), steps), min_size=10, max_size=40)


# --- running them ---------------------------------------------------------------------------


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def error_log() -> Iterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@dataclass
class Outcome:
    """What one update led to: the requests made while it was handled."""

    step: Any
    kind: str  # message | callback
    user_id: int
    query_id: str | None
    requests: list[Any]


class Fuzzer:
    def __init__(self, env: Any, accounts: list[DemoAccountEntry]) -> None:
        self.env = env
        self.accounts = accounts
        self.ids = itertools.count(20_000_000, 10)
        with env.runtime.i18n.context():
            self.menu = {lang: [self._in(lang, label) for label in MENU] for lang in ("ru", "en")}

    def _in(self, lang: str, label: Any) -> str:
        with self.env.runtime.i18n.use_locale(lang):
            return str(label)

    async def users(self) -> list[ChatClient]:
        """A new user, a registered one, and a registered one with two linked accounts."""
        base = next(self.ids)
        new = self.env.client(base, "ru")
        registered = self.env.client(base + 1, "en", "John")
        linked = self.env.client(base + 2, "ru")
        async with self.env.runtime.app.session_factory() as session:
            services = Services(session, self.env.runtime.app)
            for client, lang in ((registered, "en"), (linked, "ru")):
                user = await services.users.choose_language(client.user.id, lang)
                await services.users.give_consent(user)
                await services.users.save_contact(user, PHONE, client.user.id)
                await services.users.complete_registration(user)
            for entry in self.accounts:
                await services.linking.link(linked.user.id, entry.ref, entry.proofs[0])
        return [new, registered, linked]

    async def run(self, client: ChatClient, step: Any) -> Outcome:
        session = self.env.session
        start = len(session.requests)
        query_id: str | None = None
        if isinstance(step, Press | Forged):
            query_id, _ = await self._press(client, step)
            if query_id is None:  # no button to press yet: send the menu entry instead
                await client.send("/help")
        else:
            await self._send(client, step)
        kind = "callback" if query_id is not None else "message"
        return Outcome(step, kind, client.user.id, query_id, session.requests[start:])

    async def _send(self, client: ChatClient, step: Any) -> None:
        if isinstance(step, Text):
            await client.send(step.text)
        elif isinstance(step, Command):
            head = f"/{step.name}" + ("@gas_test_bot" if step.mention else "")
            text = f"{head} {step.args}" if step.args else head
            entity = MessageEntity(type="bot_command", offset=0, length=len(head))
            await client._feed(message=client._message(text=text, entities=[entity]))
        elif isinstance(step, MenuEntry):
            labels = self.menu[step.lang]
            await client.send(labels[step.index % len(labels)])
        elif isinstance(step, ReplyButton):
            buttons = self._reply_buttons(client)
            if not buttons:
                await client.send(self.menu["ru"][step.index % len(self.menu["ru"])])
                return
            button = buttons[step.index % len(buttons)]
            if button.request_contact:
                await client.share_contact(PHONE)
            else:
                await client.send(button.text)
        elif isinstance(step, SharedContact):
            if step.own:
                await client.share_contact(PHONE)
            else:
                contact = Contact(phone_number=FOREIGN_PHONE, first_name="Пётр",
                                  user_id=client.user.id + 5)
                await client._feed(message=client._message(contact=contact))
        elif isinstance(step, Media):
            if step.kind == "sticker":
                sticker = Sticker(file_id="CAAC", file_unique_id="u1", type="regular",
                                  width=512, height=512, is_animated=False, is_video=False,
                                  emoji="🔥")
                await client._feed(message=client._message(sticker=sticker))
            elif step.kind == "photo":
                photo = [PhotoSize(file_id="AgAD", file_unique_id="p1", width=90, height=90)]
                await client._feed(message=client._message(photo=photo, caption="📷"))
            else:
                where = Location(latitude=55.75, longitude=37.61)
                await client._feed(message=client._message(location=where))
        else:  # pragma: no cover - a new step type without a runner
            raise AssertionError(step)

    def _reply_buttons(self, client: ChatClient) -> list[Any]:
        for request in reversed(client.requests()):
            markup = getattr(request.obj, "reply_markup", None)
            if isinstance(markup, ReplyKeyboardMarkup):
                return [b for row in markup.keyboard for b in row]
            if markup is not None and getattr(markup, "remove_keyboard", False):
                return []
        return []

    async def _press(self, client: ChatClient, step: Press | Forged) -> tuple[str | None, Any]:
        keyboards = [(m, m.reply_markup) for m in client.bot_messages()
                     if isinstance(m.reply_markup, InlineKeyboardMarkup)]
        sent = [m for m, _ in keyboards]
        buttons = [(m, b.callback_data) for m, markup in keyboards
                   for row in markup.inline_keyboard for b in row if b.callback_data]
        if isinstance(step, Press):
            if step.latest and sent:
                buttons = [(m, d) for m, d in buttons if m is sent[-1]] or buttons
            if not buttons:
                return None, None
            message, data = buttons[step.index % len(buttons)]
        else:
            data = step.data
            message = sent[-1] if sent else Message(
                message_id=1, date=datetime.now(UTC), chat=client.chat, from_user=BOT_USER,
                text="an old message")
        query_id = f"q{next(self.ids)}"
        query = CallbackQuery(id=query_id, from_user=client.user, chat_instance="ci",
                              message=message, data=data)
        await client._feed(callback_query=query)
        return query_id, data


def _answers_chat(request: Any, chat_id: int) -> bool:
    return bool(request.chat_id == chat_id
                and request.method.startswith(("send", "edit", "copy")))


def check(outcomes: list[Outcome], env: Any, errors: ErrorLog, violations_before: int) -> None:
    for outcome in outcomes:
        if outcome.kind == "message":
            assert any(_answers_chat(r, outcome.user_id) for r in outcome.requests), (
                f"no answer to {outcome.step}: {[r.method for r in outcome.requests]}")
        else:
            answers = [r for r in outcome.requests if r.method == "answerCallbackQuery"
                       and r.obj.callback_query_id == outcome.query_id]
            assert len(answers) == 1, f"{len(answers)} answers to {outcome.step}"
        for request in outcome.requests:
            text = request.text or str(getattr(request.obj, "text", "") or "")
            assert not any(a in text for a in APOLOGY), f"apology after {outcome.step}"
    assert not errors.records, [r.getMessage() for r in errors.records]
    failed = env.runtime.metrics.registry.get_sample_value
    total = sum(failed("bot_errors_total", {"kind": k}) or 0.0
                for k in ("message", "callback_query"))
    assert total == 0, f"{total} update(s) raised"
    assert env.session.violations[violations_before:] == []


async def fuzzer_for(bot_env: Any) -> Fuzzer:
    """One bot for all the examples of a test, built at the first one."""
    fuzzer: Fuzzer | None = getattr(bot_env, "fuzzer", None)
    if fuzzer is None:
        env = await bot_env(throttle_rate=0)
        # A fixed day inside every supplier's readings window: /reading gets past the window.
        env.runtime.app.clock = lambda: NOON
        accounts = [(await entries(env, "mrg_perm"))[0],
                    next(e for e in await entries(env, "mrg_krasnodar") if e.kind == "house")]
        fuzzer = Fuzzer(env, accounts)
        bot_env.fuzzer = fuzzer
    return fuzzer


# 40 keeps the suite's run near 20 s; FUZZ_EXAMPLES=1000 for a long hunt.
@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "40")), deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(script=scripts)
async def test_random_users_never_break_the_bot(bot_env: Any,
                                                script: list[tuple[int, Any]]) -> None:
    fuzzer = await fuzzer_for(bot_env)
    env = fuzzer.env
    users = await fuzzer.users()
    violations_before = len(env.session.violations)
    with error_log() as errors:
        outcomes = [await fuzzer.run(users[who], step) for who, step in script]
    check(outcomes, env, errors, violations_before)


async def test_the_oracle_catches_what_it_is_for(bot_env: Any) -> None:
    """The checks above fail on a silent handler, a raising one and a double answer."""
    fuzzer = await fuzzer_for(bot_env)
    env = fuzzer.env

    async def silent(message: Message) -> None:
        return None

    async def explode(message: Message) -> None:
        raise RuntimeError("boom")

    async def twice(query: CallbackQuery) -> None:
        await query.answer()
        await query.answer("again")

    env.dp.message.register(silent, F.text == "silence")
    env.dp.message.register(explode, F.text == "explode")
    env.dp.callback_query.register(twice, F.data == "twice")
    for step, problem in ((Text("silence"), "no answer"), (Text("explode"), "apology"),
                          (Forged("twice"), "2 answers")):
        users = await fuzzer.users()
        before = len(env.session.violations)
        with error_log() as errors:
            outcomes = [await fuzzer.run(users[1], Text("hello")),
                        await fuzzer.run(users[1], step)]
        with pytest.raises(AssertionError, match=problem):
            check(outcomes, env, errors, before)
    # The raising handler was also seen by the other two signals.
    assert env.runtime.metrics.registry.get_sample_value(
        "bot_errors_total", {"kind": "message"}) == 1

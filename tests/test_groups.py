"""The bot in groups, supergroups and forum topics: commands get a short reply with a deep link
into the private chat and no personal data; chatter gets nothing; joining a group gets an
introduction. `GroupMember` is reused by the support chat tests."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiogram.types import (
    Chat,
    ChatMemberAdministrator,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberUpdated,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    PhotoSize,
    Update,
    User,
)

from bot.app import set_commands
from handlers.commands import PRIVATE_COMMANDS
from tests.support.botenv import BOT_USER
from tests.support.fake_session import Request
from tests.test_linking import PHONE, entries, link_directly, register

GROUP_ID = -1002220003330
_ids = itertools.count(900_000)


class GroupMember:
    """A user writing in a group or supergroup chat (optionally in a forum topic)."""

    def __init__(self, env: Any, user_id: int, chat_id: int = GROUP_ID, *,
                 chat_type: str = "supergroup", is_forum: bool = False,
                 language_code: str | None = "ru", first_name: str = "Пётр") -> None:
        self.env = env
        self.user = User(id=user_id, is_bot=False, first_name=first_name,
                         language_code=language_code)
        self.chat = Chat(id=chat_id, type=chat_type, title="Дом на Ленина, 5",
                         is_forum=is_forum or None)

    async def _feed(self, **update: Any) -> list[Request]:
        start = len(self.env.session.requests)
        await self.env.dp.feed_update(self.env.bot, Update(update_id=next(_ids), **update))
        return list(self.env.session.requests[start:])

    def _message(self, thread_id: int | None, reply_to: Message | None, **kw: Any) -> Message:
        return Message(message_id=next(_ids), date=int(time.time()), chat=self.chat,
                       from_user=self.user, message_thread_id=thread_id,
                       is_topic_message=True if thread_id and self.chat.is_forum else None,
                       reply_to_message=reply_to, **kw)

    async def send(self, text: str, *, thread_id: int | None = None,
                   reply_to: Message | None = None) -> list[Request]:
        entities = []
        if text.startswith("/"):
            head = text.split(maxsplit=1)[0]
            entities.append(MessageEntity(type="bot_command", offset=0, length=len(head)))
        for word in text.split():
            if word.startswith("@"):
                entities.append(MessageEntity(type="mention", offset=text.index(word),
                                              length=len(word)))
        return await self._feed(message=self._message(thread_id, reply_to, text=text,
                                                      entities=entities or None))

    async def send_photo(self, caption: str | None = None, *,
                         reply_to: Message | None = None) -> list[Request]:
        photo = [PhotoSize(file_id=f"AgADstaff{next(_ids)}", file_unique_id="s1", width=90,
                           height=90)]
        return await self._feed(message=self._message(None, reply_to, photo=photo,
                                                      caption=caption))

    async def send_sticker(self, *, reply_to: Message | None = None) -> list[Request]:
        from aiogram.types import Sticker

        sticker = Sticker(file_id="CAACstaff", file_unique_id="u2", type="regular", width=512,
                          height=512, is_animated=False, is_video=False)
        return await self._feed(message=self._message(None, reply_to, sticker=sticker))

    async def bot_joins(self, old: str = "left", new: str = "member") -> list[Request]:
        def member(status: str) -> Any:
            if status == "left":
                return ChatMemberLeft(user=BOT_USER)
            if status == "member":
                return ChatMemberMember(user=BOT_USER)
            return ChatMemberAdministrator(
                user=BOT_USER, can_be_edited=False, is_anonymous=False, can_manage_chat=True,
                can_delete_messages=True, can_manage_video_chats=True,
                can_restrict_members=True, can_promote_members=False, can_change_info=True,
                can_invite_users=True, can_post_stories=True, can_edit_stories=True,
                can_delete_stories=True, can_send_welcome_messages=False)

        event = ChatMemberUpdated(chat=self.chat, from_user=self.user, date=int(time.time()),
                                  old_chat_member=member(old), new_chat_member=member(new))
        return await self._feed(my_chat_member=event)


def answers(sent: list[Request]) -> list[Request]:
    """What the bot said or did, leaving out getMe (aiogram asks it once for the username)."""
    return [r for r in sent if r.method != "getMe"]


def url_buttons(request: Request) -> list[tuple[str, str]]:
    markup = getattr(request.obj, "reply_markup", None)
    assert isinstance(markup, InlineKeyboardMarkup)
    return [(b.text, str(b.url)) for row in markup.inline_keyboard for b in row]


async def registered_with_account(env: Any, user_id: int) -> tuple[Any, Any]:
    client = env.client(user_id=user_id)
    await register(client)
    entry = (await entries(env, "mrg_perm"))[0]
    account = await link_directly(env, user_id, entry)
    async with env.runtime.app.session_factory() as session:
        from bot.services import Services

        await Services(session, env.runtime.app).accounts.rename(user_id, account.id, "Дача")
    return client, entry


# --- commands ---------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "payload"), [
    ("balance", "balance"), ("reading", "reading"), ("pay", "pay"), ("receipt", "receipt"),
    ("accounts", "accounts"), ("support", "support"), ("link", "link"),
    ("settings", "settings"), ("reminders", "reminders"),
])
async def test_group_command_replies_with_a_deep_link_and_no_personal_data(
        bot_env: Any, command: str, payload: str) -> None:
    env = await bot_env()
    _, entry = await registered_with_account(env, 6101)
    member = GroupMember(env, 6101)
    sent = answers(await member.send(f"/{command}@gas_test_bot"))
    assert [r.method for r in sent] == ["sendMessage"]
    reply = sent[0]
    assert reply.chat_id == GROUP_ID
    assert "личном чате" in (reply.text or "")
    assert url_buttons(reply)[0][1] == f"https://t.me/gas_test_bot?start={payload}"
    # A reply to the command, so a busy group sees what it answers.
    assert reply.obj.reply_parameters is not None
    # No personal data of the asker: no phone, no account number (not even masked), no
    # owner, no address, no alias.
    everything = " ".join(str(r.params) for r in sent)
    for secret in (PHONE, PHONE.lstrip("+"), entry.number, entry.number[-4:], "Дача"):
        assert secret not in everything


async def test_every_command_of_the_menu_and_of_help_is_answered_in_a_group(
        bot_env: Any) -> None:
    """A QA trial sent /reminders@bot in a group and got no answer at all."""
    env = await bot_env()
    private = env.client(user_id=6112)
    await private.send("/help")
    member = GroupMember(env, 6112)
    for command, _description in PRIVATE_COMMANDS:
        assert f"/{command} —" in private.last_text()  # /help lists the same commands
        sent = answers(await member.send(f"/{command}@gas_test_bot"))
        assert [r.method for r in sent] == ["sendMessage"], command
        assert sent[0].chat_id == GROUP_ID and sent[0].obj.reply_parameters is not None
        assert url_buttons(sent[0])[0][1].startswith("https://t.me/gas_test_bot"), command


async def test_cancel_in_a_group_points_to_the_private_chat(bot_env: Any) -> None:
    env = await bot_env()
    client, _ = await registered_with_account(env, 6113)
    await client.send("/support")
    member = GroupMember(env, 6113)
    sent = answers(await member.send("/cancel@gas_test_bot"))
    assert len(sent) == 1
    assert sent[0].text == ("Здесь нечего отменять: всё личное я делаю в личном чате. "
                            "Отправьте /cancel там.")
    assert url_buttons(sent[0]) == [("🤖 Открыть бота", "https://t.me/gas_test_bot")]
    # The private step is not touched.
    context = env.dp.fsm.get_context(env.bot, 6113, 6113)
    assert await context.get_state() == "SupportStates:topic"
    english = GroupMember(env, 6114, language_code="en")
    sent = answers(await english.send("/cancel@gas_test_bot"))
    assert "There is nothing to cancel here" in (sent[0].text or "")


async def test_commands_without_mention_and_for_another_bot(bot_env: Any) -> None:
    env = await bot_env()
    member = GroupMember(env, 6102, chat_type="group", chat_id=-4001)
    sent = answers(await member.send("/balance"))
    assert len(sent) == 1 and url_buttons(sent[0])[0][1].endswith("?start=balance")
    # A command addressed to another bot in the group is none of ours.
    assert answers(await member.send("/balance@other_bot")) == []


async def test_start_and_help_in_a_group_introduce_the_bot(bot_env: Any) -> None:
    env = await bot_env()
    member = GroupMember(env, 6103, language_code="en")
    for command in ("/start@gas_test_bot", "/help@gas_test_bot"):
        sent = answers(await member.send(command))
        assert len(sent) == 1
        assert "type <code>@gas_test_bot</code>" in (sent[0].text or "")
        assert url_buttons(sent[0]) == [("🤖 Open the bot", "https://t.me/gas_test_bot")]


async def test_forum_topic_reply_stays_in_the_topic(bot_env: Any) -> None:
    env = await bot_env()
    member = GroupMember(env, 6104, is_forum=True)
    sent = answers(await member.send("/pay@gas_test_bot", thread_id=77))
    assert len(sent) == 1
    assert sent[0].obj.message_thread_id == 77
    assert url_buttons(sent[0])[0][1] == "https://t.me/gas_test_bot?start=pay"
    # The General topic of a forum has no thread id: none is sent.
    sent = answers(await member.send("/pay@gas_test_bot"))
    assert sent[0].obj.message_thread_id is None


# --- privacy mode -----------------------------------------------------------------------


async def test_group_chatter_is_ignored(bot_env: Any) -> None:
    env = await bot_env()
    await registered_with_account(env, 6105)
    member = GroupMember(env, 6105)
    neighbour = GroupMember(env, 6106, first_name="Анна")
    start = len(env.session.requests)
    chatter = await member.send("Соседи, кто уже передал показания за газ?")
    assert answers(chatter) == []
    first = Message(message_id=1, date=int(time.time()), chat=member.chat,
                    from_user=neighbour.user, text="Я передала")
    assert answers(await member.send("Спасибо!", reply_to=first)) == []
    assert answers(await member.send("/unknown@gas_test_bot")) == []
    assert answers(await member.send_photo("фото квитанции")) == []
    assert answers(await member.send_sticker()) == []
    assert answers(env.session.requests[start:]) == []
    # The event log has them, as unhandled.
    assert env.runtime.events is not None
    events = await env.runtime.events.for_user(6105, datetime.now(UTC) - timedelta(hours=1))
    group_events = [e for e in events if e.chat_type == "supergroup"]
    assert len(group_events) == 5
    assert {e.outcome for e in group_events} == {"unhandled"}


async def test_a_reply_to_the_bot_or_a_mention_gets_a_hint(bot_env: Any) -> None:
    env = await bot_env()
    member = GroupMember(env, 6107)
    intro = answers(await member.send("/help@gas_test_bot"))[0]
    intro_message = env.session.sent[(GROUP_ID, max(k[1] for k in env.session.sent
                                                    if k[0] == GROUP_ID))]
    assert intro.text and intro_message.text == intro.text
    sent = answers(await member.send("а баланс покажешь?", reply_to=intro_message))
    assert len(sent) == 1 and "только в личном чате" in (sent[0].text or "")
    sent = answers(await member.send("@gas_test_bot привет"))
    assert len(sent) == 1 and url_buttons(sent[0]) == [("🤖 Открыть бота",
                                                        "https://t.me/gas_test_bot")]
    assert answers(await member.send("@someone_else привет")) == []


async def test_private_only_features_do_not_answer_in_groups(bot_env: Any) -> None:
    """A user in the middle of a private conversation writes in a group: the private step
    does not take the group message, and the group message does not touch the step."""
    env = await bot_env()
    client, _ = await registered_with_account(env, 6108)
    await client.send("/support")
    before = len(client.texts())
    member = GroupMember(env, 6108)
    assert answers(await member.send("Всем привет, это длинное сообщение в группе")) == []
    assert len(client.texts()) == before
    context = env.dp.fsm.get_context(env.bot, 6108, 6108)
    assert await context.get_state() == "SupportStates:topic"


# --- joining ----------------------------------------------------------------------------


async def test_added_to_a_group_introduces_itself(bot_env: Any) -> None:
    env = await bot_env()
    member = GroupMember(env, 6109)
    sent = answers(await member.bot_joins("left", "member"))
    assert [r.method for r in sent] == ["sendMessage"]
    assert sent[0].chat_id == GROUP_ID
    text = sent[0].text or ""
    assert "<code>@gas_test_bot</code>" in text and "/balance" in text
    assert "ничьих личных данных" in text
    # Promoted to administrator later: no second introduction.
    assert answers(await member.bot_joins("member", "administrator")) == []
    # Added straight as an administrator: introduced.
    other = GroupMember(env, 6109, chat_id=-1009999)
    assert len(answers(await other.bot_joins("left", "administrator"))) == 1
    # Removed: nothing to say.
    assert answers(await member.bot_joins("member", "left")) == []


async def test_group_command_menu_is_set(bot_env: Any) -> None:
    env = await bot_env()
    await set_commands(env.bot, env.runtime)
    group_menus = [r for r in env.session.requests if r.method == "setMyCommands"
                   and r.obj.scope is not None and r.obj.scope.type == "all_group_chats"]
    assert {r.obj.language_code for r in group_menus} == {None, "ru", "en"}
    commands = {c.command for c in group_menus[0].obj.commands}
    assert {"balance", "reading", "pay", "receipt", "support", "help"} == commands
    private = [r for r in env.session.requests if r.method == "setMyCommands"
               and r.obj.scope is not None and r.obj.scope.type == "all_private_chats"]
    assert any(c.command == "support" for c in private[0].obj.commands)


# --- the deep links the group replies carry ----------------------------------------------


async def test_deep_links_from_a_group_open_the_feature(bot_env: Any) -> None:
    env = await bot_env()
    client, entry = await registered_with_account(env, 6110)
    await client.send("/start support")
    assert "Поддержка" in client.last_text()
    await client.send("/start accounts")
    assert f"•••• {entry.number[-4:]}" in client.last_text()
    # Somebody not registered yet: the link waits until registration is done.
    newcomer = env.client(user_id=6111)
    await newcomer.send("/start support")
    assert "Выберите язык" in newcomer.last_text()
    await register(newcomer)
    assert any("О чём ваш вопрос" in text for text in newcomer.texts()[-2:])

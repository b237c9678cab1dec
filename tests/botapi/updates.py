"""Builders of updates shaped as Telegram sends them (plain dicts, dates as Unix ints).

Push them with ``FakeBotAPI.push_update(...)`` or feed them to a dispatcher through
:func:`to_update`. update_id and message_id come from module counters; the fake server assigns
its own update_id and renumbers a message_id that collides with one it already knows.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiogram.types import Update

JSON = dict[str, Any]

DEFAULT_BOT: JSON = {
    "id": 1,
    "is_bot": True,
    "first_name": "Gas Test Bot",
    "username": "gas_test_bot",
}

_update_ids = itertools.count(1)
_message_ids = itertools.count(1)
_query_ids = itertools.count(1)
_file_ids = itertools.count(1)


def now() -> int:
    return int(time.time())


def _update(kind: str, payload: JSON) -> JSON:
    return {"update_id": next(_update_ids), kind: payload}


def _file_id(prefix: str) -> tuple[str, str]:
    number = next(_file_ids)
    return f"{prefix}ACAgIAAxkBAAI{number:06d}", f"AQAD{number:06d}"


# -- users and chats ---------------------------------------------------------------------------


def tg_user(
    id: int,
    first_name: str = "Ivan",
    language_code: str | None = "ru",
    *,
    last_name: str | None = None,
    username: str | None = None,
    is_premium: bool | None = None,
) -> JSON:
    user: JSON = {"id": id, "is_bot": False, "first_name": first_name}
    optional = {
        "last_name": last_name,
        "username": username,
        "language_code": language_code,
        "is_premium": is_premium,
    }
    user.update({k: v for k, v in optional.items() if v is not None})
    return user


class UserFactory:
    """Distinct users with consecutive ids: ``users = UserFactory(); alice = users("Alice")``."""

    def __init__(self, start_id: int = 100_000_001, language_code: str | None = "ru") -> None:
        self._ids = itertools.count(start_id)
        self.language_code = language_code

    def __call__(
        self,
        first_name: str | None = None,
        *,
        language_code: str | None = "",
        last_name: str | None = None,
        username: str | None = None,
    ) -> JSON:
        user_id = next(self._ids)
        return tg_user(
            user_id,
            first_name or f"User{user_id}",
            self.language_code if language_code == "" else language_code,
            last_name=last_name,
            username=username,
        )


def private_chat(user: JSON) -> JSON:
    chat: JSON = {"id": user["id"], "type": "private", "first_name": user["first_name"]}
    for key in ("last_name", "username"):
        if key in user:
            chat[key] = user[key]
    return chat


def group_chat(
    chat_id: int = -1_001_234_567_890,
    title: str = "Residents of Lenina 5",
    *,
    chat_type: str | None = None,
    is_forum: bool = False,
    username: str | None = None,
) -> JSON:
    """A group (id > -10^12) or supergroup chat; ``is_forum`` for chats with topics."""
    kind = chat_type or ("supergroup" if chat_id <= -1_000_000_000_000 else "group")
    chat: JSON = {"id": chat_id, "type": kind, "title": title}
    if username:
        chat["username"] = username
    if is_forum:
        chat["is_forum"] = True
    return chat


# -- messages ----------------------------------------------------------------------------------


def message_payload(
    user: JSON,
    chat: JSON | None = None,
    *,
    message_thread_id: int | None = None,
    reply_to: JSON | None = None,
    date: int | None = None,
    message_id: int | None = None,
    **content: Any,
) -> JSON:
    """The Message object (not wrapped in an update) with ``content`` fields such as text."""
    chat = chat or private_chat(user)
    message: JSON = {
        "message_id": message_id if message_id is not None else next(_message_ids),
        "from": user,
        "chat": chat,
        "date": date if date is not None else now(),
    }
    if message_thread_id is not None:
        message["message_thread_id"] = message_thread_id
        if chat.get("is_forum"):
            message["is_topic_message"] = True
    if reply_to is not None:
        message["reply_to_message"] = {k: v for k, v in reply_to.items() if k != "reply_to_message"}
    message.update({k: v for k, v in content.items() if v is not None})
    return message


def message(
    user: JSON,
    text: str,
    chat: JSON | None = None,
    *,
    entities: list[JSON] | None = None,
    message_thread_id: int | None = None,
    reply_to: JSON | None = None,
) -> JSON:
    """A text message update from ``user`` (private chat unless ``chat`` is given)."""
    payload = message_payload(
        user,
        chat,
        message_thread_id=message_thread_id,
        reply_to=reply_to,
        text=text,
        entities=entities,
    )
    return _update("message", payload)


def edited_message(original: JSON, text: str) -> JSON:
    """An edited_message update for a message payload the user sent before."""
    payload = {**original, "text": text, "edit_date": now()}
    payload.pop("entities", None)
    return _update("edited_message", payload)


def command(
    user: JSON,
    name: str = "/start",
    payload: str | None = None,
    chat: JSON | None = None,
    *,
    bot_username: str | None = None,
    message_thread_id: int | None = None,
) -> JSON:
    """``/start`` (or ``/start payload``) with the bot_command entity Telegram adds.

    ``bot_username`` gives ``/cmd@bot``, as clients send commands in groups.
    """
    name = name if name.startswith("/") else f"/{name}"
    head = f"{name}@{bot_username}" if bot_username else name
    text = f"{head} {payload}" if payload else head
    entity = {"type": "bot_command", "offset": 0, "length": len(head.encode("utf-16-le")) // 2}
    return message(user, text, chat, entities=[entity], message_thread_id=message_thread_id)


def contact(
    user: JSON,
    phone: str,
    contact_user_id: int | None = None,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    chat: JSON | None = None,
) -> JSON:
    """A shared contact; by default the user's own (what a request_contact button sends).

    Pass ``contact_user_id=0`` for a contact without a Telegram account (no user_id).
    Telegram sends own numbers as digits, often without the leading "+".
    """
    shared: JSON = {"phone_number": phone, "first_name": first_name or user["first_name"]}
    if last_name or (first_name is None and "last_name" in user):
        shared["last_name"] = last_name or user["last_name"]
    owner = user["id"] if contact_user_id is None else contact_user_id
    if owner:
        shared["user_id"] = owner
    return _update("message", message_payload(user, chat, contact=shared))


def sticker(user: JSON, emoji: str = "👍", chat: JSON | None = None) -> JSON:
    file_id, unique = _file_id("CAAC")
    shared: JSON = {
        "file_id": file_id,
        "file_unique_id": unique,
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
        "set_name": "TestStickers",
        "file_size": 24_000,
    }
    return _update("message", message_payload(user, chat, sticker=shared))


def photo(
    user: JSON,
    caption: str | None = None,
    chat: JSON | None = None,
    *,
    file_id: str | None = None,
    width: int = 1280,
    height: int = 960,
) -> JSON:
    """A photo with the usual thumbnail + full size; pass ``file_id`` from ``add_file``."""
    small_id, small_unique = _file_id("AgAC")
    big_id, big_unique = _file_id("AgAC")
    scale = 90 / max(width, height)
    sizes = [
        {
            "file_id": small_id,
            "file_unique_id": small_unique,
            "width": max(1, round(width * scale)),
            "height": max(1, round(height * scale)),
            "file_size": 1_500,
        },
        {
            "file_id": file_id or big_id,
            "file_unique_id": big_unique,
            "width": width,
            "height": height,
            "file_size": 180_000,
        },
    ]
    return _update("message", message_payload(user, chat, photo=sizes, caption=caption))


def document(
    user: JSON,
    file_name: str = "receipt.pdf",
    mime_type: str = "application/pdf",
    *,
    file_id: str | None = None,
    caption: str | None = None,
    chat: JSON | None = None,
) -> JSON:
    generated_id, unique = _file_id("BQAC")
    shared: JSON = {
        "file_id": file_id or generated_id,
        "file_unique_id": unique,
        "file_name": file_name,
        "mime_type": mime_type,
        "file_size": 52_000,
    }
    return _update("message", message_payload(user, chat, document=shared, caption=caption))


def voice(
    user: JSON, duration: int = 3, chat: JSON | None = None, *, file_id: str | None = None
) -> JSON:
    generated_id, unique = _file_id("AwAC")
    shared: JSON = {
        "file_id": file_id or generated_id,
        "file_unique_id": unique,
        "duration": duration,
        "mime_type": "audio/ogg",
        "file_size": 8_000 * duration,
    }
    return _update("message", message_payload(user, chat, voice=shared))


def location(
    user: JSON,
    latitude: float = 55.751244,
    longitude: float = 37.618423,
    chat: JSON | None = None,
) -> JSON:
    shared = {"latitude": latitude, "longitude": longitude}
    return _update("message", message_payload(user, chat, location=shared))


# -- queries and membership --------------------------------------------------------------------


def callback(
    user: JSON,
    data: str,
    message: JSON,
    *,
    chat_instance: str | None = None,
) -> JSON:
    """A button press on ``message`` (e.g. ``ApiCall.result`` of the bot's sendMessage)."""
    query: JSON = {
        "id": f"{4_000_000_000_000_000 + next(_query_ids)}",
        "from": user,
        "message": message,
        "chat_instance": chat_instance or f"{abs(hash(message['chat']['id'])) % 10**18}",
        "data": data,
    }
    return _update("callback_query", query)


def inline_query(
    user: JSON, query: str, offset: str = "", *, chat_type: str | None = "sender"
) -> JSON:
    payload: JSON = {
        "id": f"{5_000_000_000_000_000 + next(_query_ids)}",
        "from": user,
        "query": query,
        "offset": offset,
    }
    if chat_type:
        payload["chat_type"] = chat_type
    return _update("inline_query", payload)


def chat_member(user: JSON, status: str, *, until_date: int = 0) -> JSON:
    """A ChatMember object for ``status`` with the fields Telegram always sends."""
    member: JSON = {"status": status, "user": user}
    if status == "administrator":
        rights = [
            "can_manage_chat",
            "can_delete_messages",
            "can_manage_video_chats",
            "can_restrict_members",
            "can_change_info",
            "can_invite_users",
            "can_post_stories",
            "can_edit_stories",
            "can_delete_stories",
            "can_pin_messages",
        ]
        member |= {"can_be_edited": False, "is_anonymous": False, "can_promote_members": False}
        member |= dict.fromkeys(rights, True)
        # Bot API 10.1 does not list this field, but aiogram 3.31 (Bot API 10.3) requires it.
        member["can_send_welcome_messages"] = False
    elif status == "kicked":
        member["until_date"] = until_date
    elif status == "creator":
        member["is_anonymous"] = False
    elif status not in ("member", "left"):
        raise ValueError(f"unsupported status {status!r}")
    return member


def my_chat_member(
    user: JSON,
    chat: JSON,
    bot: JSON | None = None,
    *,
    old_status: str = "left",
    new_status: str = "member",
) -> JSON:
    """``user`` changed the bot's status in ``chat`` (default: added the bot to a group)."""
    bot = bot or DEFAULT_BOT
    payload: JSON = {
        "chat": chat,
        "from": user,
        "date": now(),
        "old_chat_member": chat_member(bot, old_status),
        "new_chat_member": chat_member(bot, new_status),
    }
    return _update("my_chat_member", payload)


def to_update(update: JSON) -> Update:
    """The aiogram model of a built update (for ``Dispatcher.feed_update``)."""
    from aiogram.types import Update

    return Update.model_validate(update)

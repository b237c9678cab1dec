"""Tests of the Bot API test harness: the spec checker, the fake server and update builders."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)

from tests.botapi import updates as U
from tests.botapi.server import ApiCall, FakeBotAPI, RateLimits
from tests.botapi.spec import (
    EntityParseError,
    SpecChecker,
    parse_entities,
    parse_html,
    parse_markdown_v2,
)

TOKEN = "123456789:AAHarnessTestTokenForTheFakeBotApi_x"
USER_ID = 700_000_001
PNG_640x480 = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    + (640).to_bytes(4, "big")
    + (480).to_bytes(4, "big")
    + b"\x08\x02\x00\x00\x00"
)


@pytest.fixture
def checker() -> SpecChecker:
    return SpecChecker.load()


@pytest.fixture
async def server() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI(TOKEN) as api:
        yield api


def make_bot(api: FakeBotAPI, token: str = TOKEN) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api.base_url))
    return Bot(token, session=session)


@pytest.fixture
async def bot(server: FakeBotAPI) -> AsyncIterator[Bot]:
    bot = server.make_bot()
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def raw_post(
    http: aiohttp.ClientSession,
    api: FakeBotAPI,
    method: str,
    data: dict[str, str] | aiohttp.FormData | None = None,
    *,
    json_body: dict[str, Any] | None = None,
    token: str = TOKEN,
) -> tuple[int, dict[str, Any], ApiCall]:
    url = f"{api.base_url}/bot{token}/{method}"
    form: aiohttp.FormData | dict[str, str] | None = data
    if isinstance(data, dict):
        # Multipart with string fields, exactly like aiogram's FormData.
        form = aiohttp.FormData(quote_fields=False)
        for key, value in data.items():
            form.add_field(key, value)
    async with http.post(url, data=form, json=json_body) as resp:
        body = await resp.json()
        return resp.status, body, api.calls[-1]


def kb(*rows: list[dict[str, Any]]) -> str:
    return json.dumps({"inline_keyboard": list(rows)}, ensure_ascii=False)


# -- aiogram requests are accepted ------------------------------------------------------------


async def test_aiogram_requests_pass_the_spec(server: FakeBotAPI, bot: Bot) -> None:
    user = U.tg_user(USER_ID, "Olga")
    inline = InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="Показания", callback_data="readings:start"),
                InlineKeyboardButton(text="Сайт", url="https://example.org"),
            ],
            [InlineKeyboardButton(text="Поиск", switch_inline_query_current_chat="")],
        ]
    )
    sent = await bot.send_message(
        USER_ID, "<b>Здравствуйте</b>, &lt;Ольга&gt;!", parse_mode="HTML", reply_markup=inline
    )
    assert sent.text == "Здравствуйте, <Ольга>!"
    assert sent.entities is not None and sent.entities[0].type == "bold"
    assert sent.reply_markup is not None
    assert sent.reply_markup.model_dump() == inline.model_dump()

    reply = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="Отправить номер", request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )
    await bot.send_message(USER_ID, "Поделитесь номером", reply_markup=reply)

    photo = await bot.send_photo(
        USER_ID,
        BufferedInputFile(PNG_640x480, "meter.png"),
        caption="<i>Счётчик</i>",
        parse_mode="HTML",
    )
    assert photo.photo is not None and (photo.photo[-1].width, photo.photo[-1].height) == (640, 480)
    photo_call = server.calls_of("sendPhoto")[-1]
    assert photo_call.files["photo"] == PNG_640x480  # aiogram sends attach://<random part>

    await bot.send_media_group(
        USER_ID,
        [
            InputMediaPhoto(media=BufferedInputFile(PNG_640x480, "a.png")),
            InputMediaPhoto(media=photo.photo[-1].file_id, caption="второе"),
        ],
    )

    scope = BotCommandScopeAllPrivateChats()
    commands = [
        BotCommand(command="start", description="Начать"),
        BotCommand(command="balance", description="Баланс"),
    ]
    assert await bot.set_my_commands(commands, scope=scope, language_code="ru")
    assert server.commands_for({"type": "all_private_chats"}, "ru") == [
        {"command": "start", "description": "Начать"},
        {"command": "balance", "description": "Баланс"},
    ]
    stored = await bot.get_my_commands(scope=scope, language_code="ru")
    # Compare dumps: models returned by a Bot carry it in a private attribute.
    assert [c.model_dump() for c in stored] == [c.model_dump() for c in commands]
    assert await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=USER_ID)) == []

    server.push_update(
        U.callback(
            user, "readings:start", sent.model_dump(mode="json", by_alias=True, exclude_none=True)
        )
    )
    updates = await bot.get_updates(timeout=1)
    assert len(updates) == 1 and updates[0].callback_query is not None
    assert await bot.answer_callback_query(updates[0].callback_query.id, text="Готово")
    assert await bot.get_updates(offset=updates[0].update_id + 1) == []

    assert server.violations == []
    assert [c.method for c in server.calls if not c.ok] == []


async def test_results_conform_to_the_spec(server: FakeBotAPI, bot: Bot) -> None:
    await bot.get_me()
    message = await bot.send_message(-1_001_000_000_001, "hi", message_thread_id=5)
    assert message.chat.type == "supergroup" and message.message_thread_id == 5
    await bot.send_photo(USER_ID, BufferedInputFile(b"\xff\xd8\xff", "x.jpg"))
    await bot.send_document(USER_ID, BufferedInputFile(b"%PDF-1.4", "receipt.pdf"))
    await bot.send_location(USER_ID, 55.75, 37.61)
    await bot.send_contact(USER_ID, "+79001234567", "Ivan")
    await bot.copy_message(USER_ID, -1_001_000_000_001, message.message_id)
    await bot.forward_message(USER_ID, -1_001_000_000_001, message.message_id)
    await bot.get_chat(USER_ID)
    await bot.get_chat_member(-1_001_000_000_001, USER_ID)
    await bot.get_webhook_info()
    await bot.get_my_default_administrator_rights()
    checker = server.checker
    for call in server.calls:
        returns = checker.methods[call.method].returns
        result_type = (
            returns[0] if len(returns) == 1 or isinstance(call.result, dict) else "Boolean"
        )
        if result_type == "Boolean":
            assert call.result is True
        else:
            violations = checker.check_object(result_type, call.result)
            # aiogram 3.31 (Bot API 10.3) requires this field that api.json (10.1) lacks.
            assert all("can_send_welcome_messages" in v for v in violations), call.method
    assert server.violations == []


# -- invalid requests are rejected ------------------------------------------------------------

VALID_MESSAGE = {"chat_id": str(USER_ID), "text": "ok"}

REJECTED: list[tuple[str, str, dict[str, str], int, str]] = [
    ("unknown method", "sendMesage", VALID_MESSAGE, 404, "unknown Bot API method"),
    ("missing required field", "sendMessage", {"chat_id": "1"}, 400, "sendMessage.text: required"),
    ("wrong type", "sendMessage", {"chat_id": "abc", "text": "x"}, 400, "sendMessage.chat_id"),
    ("bad integer", "sendMessage", {"chat_id": "12.5", "text": "x"}, 400, "sendMessage.chat_id"),
    (
        "bad boolean",
        "sendMessage",
        {**VALID_MESSAGE, "disable_notification": "yes"},
        400,
        "disable_notification: expected a Boolean",
    ),
    (
        "text too long after HTML parsing",
        "sendMessage",
        {**VALID_MESSAGE, "text": "<b>" + "я" * 4097 + "</b>", "parse_mode": "HTML"},
        400,
        "4097 UTF-16 code units after entity parsing",
    ),
    (
        "text too long in UTF-16",
        "sendMessage",
        {**VALID_MESSAGE, "text": "😀" * 2049},  # 2049 characters, 4098 code units
        400,
        "sendMessage.text: 4098 UTF-16",
    ),
    (
        "empty text after trimming",
        "sendMessage",
        {**VALID_MESSAGE, "text": "<b> </b>\n", "parse_mode": "HTML"},
        400,
        "0 UTF-16 code units",
    ),
    (
        "malformed HTML",
        "sendMessage",
        {**VALID_MESSAGE, "text": "<b>x", "parse_mode": "HTML"},
        400,
        'Can\'t find end tag corresponding to start tag "b"',
    ),
    (
        "unsupported HTML tag",
        "sendMessage",
        {**VALID_MESSAGE, "text": "a<br>b", "parse_mode": "HTML"},
        400,
        'Unsupported start tag "br"',
    ),
    (
        "bare < in HTML",
        "sendMessage",
        {**VALID_MESSAGE, "text": "1 < 2", "parse_mode": "HTML"},
        400,
        "Unsupported start tag",
    ),
    (
        "unescaped MarkdownV2",
        "sendMessage",
        {**VALID_MESSAGE, "text": "Долг: 10.50 руб.", "parse_mode": "MarkdownV2"},
        400,
        "Character '.' is reserved",
    ),
    (
        "unknown parse_mode",
        "sendMessage",
        {**VALID_MESSAGE, "parse_mode": "html"},
        400,
        "sendMessage.parse_mode: 'html' is not one of",
    ),
    (
        "callback_data of 65 bytes",
        "sendMessage",
        {**VALID_MESSAGE, "reply_markup": kb([{"text": "a", "callback_data": "д" * 32 + "x"}])},
        400,
        "inline_keyboard[0][0].callback_data: 65 bytes, must be 1-64 bytes",
    ),
    (
        "button with two actions",
        "sendMessage",
        {
            **VALID_MESSAGE,
            "reply_markup": kb(
                [{"text": "ok", "callback_data": "a"}],
                [{"text": "b", "callback_data": "b", "url": "https://example.org"}],
            ),
        },
        400,
        "inline_keyboard[1][0]: 'Exactly one of the fields",
    ),
    (
        "button without action",
        "sendMessage",
        {**VALID_MESSAGE, "reply_markup": kb([{"text": "b"}])},
        400,
        "(got: none)",
    ),
    (
        "keyboard is not JSON",
        "sendMessage",
        {**VALID_MESSAGE, "reply_markup": "{'inline_keyboard': []}"},
        400,
        "sendMessage.reply_markup",
    ),
    (
        "caption of 1025 characters",
        "sendPhoto",
        {"chat_id": "1", "photo": "AgACAgIAAxkBAAI", "caption": "x" * 1025},
        400,
        "sendPhoto.caption: 1025 UTF-16 code units",
    ),
    (
        "answerCallbackQuery text of 201 characters",
        "answerCallbackQuery",
        {"callback_query_id": "1", "text": "x" * 201},
        400,
        "answerCallbackQuery.text: 201",
    ),
    (
        "51 inline results",
        "answerInlineQuery",
        {
            "inline_query_id": "1",
            "results": json.dumps(
                [
                    {
                        "type": "article",
                        "id": str(i),
                        "title": "t",
                        "input_message_content": {"message_text": "x"},
                    }
                    for i in range(51)
                ]
            ),
        },
        400,
        "answerInlineQuery.results: 51 items, must be 0-50",
    ),
    (
        "inline result of an unknown type",
        "answerInlineQuery",
        {"inline_query_id": "1", "results": json.dumps([{"type": "articel", "id": "1"}])},
        400,
        "results[0].type: 'articel' is not a InlineQueryResult type",
    ),
    (
        "bad bot command",
        "setMyCommands",
        {"commands": json.dumps([{"command": "Start", "description": "x"}])},
        400,
        "commands[0].command: 'Start' does not match",
    ),
    (
        "empty command description",
        "setMyCommands",
        {"commands": json.dumps([{"command": "start", "description": ""}])},
        400,
        "commands[0].description: 0 UTF-16 code units, must be 1-256",
    ),
    (
        "bad command scope",
        "setMyCommands",
        {"commands": "[]", "scope": json.dumps({"type": "chat"})},
        400,
        "setMyCommands.scope.chat_id: required field is missing",
    ),
    (
        "bad language code",
        "setMyCommands",
        {"commands": "[]", "language_code": "rus"},
        400,
        "'rus' is not a two-letter ISO 639-1 code",
    ),
    (
        "edit without a target",
        "editMessageText",
        {"text": "x"},
        400,
        "editMessageText.chat_id: required unless inline_message_id is given",
    ),
]


@pytest.mark.parametrize(
    ("method", "data", "status", "expected"),
    [pytest.param(m, d, s, e, id=name) for name, m, d, s, e in REJECTED],
)
async def test_invalid_requests_are_rejected(
    server: FakeBotAPI,
    http: aiohttp.ClientSession,
    method: str,
    data: dict[str, str],
    status: int,
    expected: str,
) -> None:
    code, body, call = await raw_post(http, server, method, data)
    assert (code, body["ok"], body["error_code"]) == (status, False, status), body
    assert any(expected in v for v in call.violations), call.violations
    assert all(v in server.violations for v in call.violations)


ACCEPTED: list[tuple[str, str, dict[str, str]]] = [
    (
        "long raw HTML, short parsed text",
        "sendMessage",
        {
            **VALID_MESSAGE,
            "text": "<b>" + "a" * 4094 + "</b>&amp;" + "<i></i>",
            "parse_mode": "HTML",
        },
    ),
    (
        "4096 characters of entities",
        "sendMessage",
        {**VALID_MESSAGE, "text": "&lt;" * 4096, "parse_mode": "HTML"},
    ),
    (
        "rich HTML",
        "sendMessage",
        {
            **VALID_MESSAGE,
            "parse_mode": "HTML",
            "text": (
                '<b>b <i>i <u>u</u></i></b> <a href="https://t.me/x?a=1&amp;b=2">l</a> '
                '<span class="tg-spoiler">s</span> <tg-spoiler>s</tg-spoiler> <code>c</code> '
                '<pre><code class="language-py">x = 1 &lt; 2</code></pre> & &#128512; &#x1F600; '
                '<blockquote expandable>q</blockquote> <tg-emoji emoji-id="5368324170671202286">'
                "👍</tg-emoji> <s>s</s><del>d</del><strike>s</strike><ins>i</ins><em>e</em>"
                "<strong>s</strong>"
            ),
        },
    ),
    (
        "escaped MarkdownV2",
        "sendMessage",
        {
            **VALID_MESSAGE,
            "text": "*Долг:* 10\\.50 руб\\. [сайт](https://a.b/c)",
            "parse_mode": "MarkdownV2",
        },
    ),
    (
        "callback_data of 64 bytes",
        "sendMessage",
        {**VALID_MESSAGE, "reply_markup": kb([{"text": "a", "callback_data": "д" * 32}])},
    ),
    (
        "plain-string reply keyboard buttons",
        "sendMessage",
        {**VALID_MESSAGE, "reply_markup": json.dumps({"keyboard": [["Да", "Нет"]]})},
    ),
    (
        "caption of 1024 characters",
        "sendPhoto",
        {"chat_id": "1", "photo": "https://example.org/a.jpg", "caption": "x" * 1024},
    ),
    ("channel username", "sendMessage", {"chat_id": "@gas_news", "text": "x"}),
]


@pytest.mark.parametrize(
    ("method", "data"), [pytest.param(m, d, id=name) for name, m, d in ACCEPTED]
)
async def test_valid_raw_requests_are_accepted(
    server: FakeBotAPI, http: aiohttp.ClientSession, method: str, data: dict[str, str]
) -> None:
    code, body, call = await raw_post(http, server, method, data)
    assert code == 200 and body["ok"] is True, body
    assert call.violations == []


async def test_unknown_field_is_recorded_but_tolerated_unless_strict(
    server: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    code, _, call = await raw_post(http, server, "sendMessage", {**VALID_MESSAGE, "colour": "red"})
    assert code == 200
    assert call.violations == ["sendMessage.colour: unknown field (Telegram ignores it)"]
    code, _, call = await raw_post(http, server, "SENDMESSAGE", VALID_MESSAGE)
    assert code == 200 and call.method == "sendMessage"
    assert "differs from the spec's 'sendMessage'" in call.violations[0]

    async with FakeBotAPI(TOKEN, strict=True) as strict:
        code, body, _ = await raw_post(http, strict, "sendMessage", {**VALID_MESSAGE, "x": "1"})
        assert code == 400 and "unknown field" in body["description"]


async def test_file_parts_must_be_referenced(
    server: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    form = aiohttp.FormData(quote_fields=False)
    form.add_field("chat_id", "1")
    form.add_field("photo", "attach://missing")
    form.add_field("other", b"data", filename="a.jpg")
    code, _, call = await raw_post(http, server, "sendPhoto", form)
    assert code == 400
    assert call.violations == [
        "sendPhoto.photo: attach://missing references no uploaded part",
        "sendPhoto: uploaded part 'other' is neither a field nor referenced by attach://",
    ]

    form = aiohttp.FormData(quote_fields=False)
    form.add_field("chat_id", "1")
    form.add_field("photo", PNG_640x480, filename="meter.png")  # the part itself is the field
    code, body, call = await raw_post(http, server, "sendPhoto", form)
    assert code == 200 and call.violations == []
    assert body["result"]["photo"][-1]["width"] == 640


async def test_json_urlencoded_and_get_bodies(
    server: FakeBotAPI, http: aiohttp.ClientSession
) -> None:
    code, body, call = await raw_post(
        http,
        server,
        "sendMessage",
        json_body={
            "chat_id": USER_ID,
            "text": "hi",
            "disable_notification": True,
            "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "b"}]]},
        },
    )
    assert code == 200 and call.violations == [] and call.params["chat_id"] == USER_ID
    code, body, call = await raw_post(
        http, server, "sendMessage", json_body={"chat_id": USER_ID, "text": 5, "foo": None}
    )
    # Telegram reads top-level JSON numbers as text; a null field counts as absent.
    assert (code, body["result"]["text"], call.violations) == (200, "5", [])

    url = f"{server.base_url}/bot{TOKEN}/sendMessage"
    async with http.post(
        url, data={"chat_id": "5", "text": "form", "disable_notification": "true"}
    ) as resp:
        assert resp.status == 200
    assert server.calls[-1].params == {"chat_id": 5, "text": "form", "disable_notification": True}
    async with http.get(f"{server.base_url}/bot{TOKEN}/getMe") as resp:
        assert (await resp.json())["result"]["username"] == "gas_test_bot"
    async with http.get(f"{server.base_url}/bot{TOKEN}/sendMessage?chat_id=5&text=q") as resp:
        assert resp.status == 200
    assert server.violations == []


async def test_wrong_token_is_unauthorized(server: FakeBotAPI, http: aiohttp.ClientSession) -> None:
    code, body, call = await raw_post(http, server, "getMe", {}, token="1:wrong")
    assert (code, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert call.violations == ["getMe: request with a wrong bot token"]
    other = make_bot(server, "1:wrong")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await other.get_me()
    finally:
        await other.session.close()


# -- the checker on its own -------------------------------------------------------------------


def test_spec_is_loaded_once_and_knows_the_methods(checker: SpecChecker) -> None:
    assert SpecChecker.load() is checker
    assert checker.version.startswith("Bot API")
    assert checker.canonical_method("SENDMESSAGE") == "sendMessage"
    assert checker.check("getMe", {}) == []
    assert checker.check("getMe", {"x": "1"}) == ["getMe.x: unknown field (Telegram ignores it)"]


def test_union_subtypes_are_chosen_by_discriminator(checker: SpecChecker) -> None:
    scope = json.dumps({"type": "chat_member", "chat_id": -100, "user_id": 5})
    assert checker.check("setMyCommands", {"commands": "[]", "scope": scope}) == []
    scope = json.dumps({"type": "chat_member", "chat_id": -100})
    assert checker.check("setMyCommands", {"commands": "[]", "scope": scope}) == [
        "setMyCommands.scope.user_id: required field is missing"
    ]
    result = {
        "type": "article",
        "id": "1",
        "title": "Balance",
        "input_message_content": {"message_text": "<b>x", "parse_mode": "HTML"},
        "reply_markup": {"inline_keyboard": [[{"text": "t", "callback_data": "c"}]]},
    }
    violations = checker.check(
        "answerInlineQuery", {"inline_query_id": "1", "results": json.dumps([result])}
    )
    assert violations == [
        "answerInlineQuery.results[0].input_message_content.message_text: invalid HTML markup: "
        'Can\'t find end tag corresponding to start tag "b"'
    ]


def test_media_group_and_nested_arrays(checker: SpecChecker) -> None:
    media = [
        {"type": "photo", "media": "attach://a", "caption": "<i>x</i>", "parse_mode": "HTML"},
        {"type": "photo", "media": "attach://b", "has_spoiler": "true"},
    ]
    violations = checker.check(
        "sendMediaGroup", {"chat_id": "1", "media": json.dumps(media)}, {"a": b"1", "b": b"2"}
    )
    assert violations == [
        "sendMediaGroup.media[1].has_spoiler: expected a Boolean, got string 'true'"
    ]
    one = json.dumps(media[:1])
    assert checker.check("sendMediaGroup", {"chat_id": "1", "media": one}, {"a": b"1"}) == [
        "sendMediaGroup.media: 1 items, must be 2-10"
    ]
    keyboard = json.dumps({"keyboard": [[{"text": "a", "request_contact": True}], "not a row"]})
    assert checker.check("sendMessage", {**VALID_MESSAGE, "reply_markup": keyboard}) != []


def test_check_object_validates_updates(checker: SpecChecker) -> None:
    user = U.tg_user(1, "A")
    assert checker.check_object("Update", U.message(user, "hi")) == []
    bad = {"update_id": 1, "message": {"message_id": 1, "date": "today", "chat": {"id": 1}}}
    assert checker.check_object("Update", bad) == [
        "Update.message.date: expected an Integer, got string 'today'",
        "Update.message.chat.type: required field is missing",
    ]


@pytest.mark.parametrize(
    ("html", "plain", "entities"),
    [
        ("<b>a</b>", "a", [{"type": "bold", "offset": 0, "length": 1}]),
        ("😀<i>x</i>", "😀x", [{"type": "italic", "offset": 2, "length": 1}]),
        ("a &amp; b &lt;c&gt; &quot; &#65; &#x42; &nbsp; &", 'a & b <c> " A B &nbsp; &', []),
        (
            '<a href="https://e.org/?a=1&amp;b=2">l</a>',
            "l",
            [{"type": "text_link", "offset": 0, "length": 1, "url": "https://e.org/?a=1&b=2"}],
        ),
        (
            '<pre><code class="language-py">x</code></pre>',
            "x",
            [{"type": "pre", "offset": 0, "length": 1, "language": "py"}],
        ),
        ("<B>x</B>", "x", [{"type": "bold", "offset": 0, "length": 1}]),
        ("<b>x</>", "x", [{"type": "bold", "offset": 0, "length": 1}]),
    ],
)
def test_parse_html(html: str, plain: str, entities: list[dict[str, Any]]) -> None:
    assert parse_html(html) == (plain, entities)


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ('<a href="x>y</a>', "Unclosed start tag"),
        ("a <", 'Unsupported start tag ""'),
    ],
)
def test_parse_html_errors(html: str, error: str) -> None:
    with pytest.raises(EntityParseError, match=None) as info:
        parse_html(html)
    assert error in str(info.value)


def test_parse_markdown_v2() -> None:
    text = "*b* _i_ __u__ ~s~ ||sp|| `c\\`` [l](https://e.org/\\)) \\. \\!\n>quote\n```py\nx\n```"
    plain, entities = parse_markdown_v2(text)
    assert plain == "b i u s sp c` l . !\nquote\nx\n"
    assert [e["type"] for e in entities] == [
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "text_link",
        "blockquote",
        "pre",
    ]
    assert entities[6]["url"] == "https://e.org/)"
    for bad in ("a.b", "*unclosed", "[x](https://e.org", "a - b", "(x)"):
        with pytest.raises(EntityParseError):
            parse_markdown_v2(bad)


def test_parse_entities_trims_like_telegram() -> None:
    assert parse_entities("  <b> x </b>\n", "HTML") == (
        "x",
        [{"type": "bold", "offset": 0, "length": 1}],
    )
    assert parse_entities("*x* _y_", "Markdown") == (
        "x y",
        [{"type": "bold", "offset": 0, "length": 1}, {"type": "italic", "offset": 2, "length": 1}],
    )
    with pytest.raises(ValueError, match="unsupported parse_mode"):
        parse_entities("x", "html")


# -- server behaviour -------------------------------------------------------------------------


async def test_edit_errors_match_telegram(server: FakeBotAPI, bot: Bot) -> None:
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="a", callback_data="a")]]
    )
    sent = await bot.send_message(USER_ID, "<b>Баланс</b>", parse_mode="HTML", reply_markup=markup)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "<b>Баланс</b>",
            chat_id=USER_ID,
            message_id=sent.message_id,
            parse_mode="HTML",
            reply_markup=markup,
        )
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=USER_ID, message_id=sent.message_id + 100)
    # The same text without reply_markup removes the keyboard, which is a modification.
    edited = await bot.edit_message_text(
        "<b>Баланс</b>", chat_id=USER_ID, message_id=sent.message_id, parse_mode="HTML"
    )
    assert not isinstance(edited, bool) and edited.reply_markup is None
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=USER_ID, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="there is no caption in the message to edit"):
        await bot.edit_message_caption(chat_id=USER_ID, message_id=sent.message_id, caption="c")
    assert await bot.delete_message(USER_ID, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(USER_ID, sent.message_id)
    assert server.violations == []


async def test_callback_queries_can_be_answered_once(server: FakeBotAPI, bot: Bot) -> None:
    user = U.tg_user(USER_ID)
    message = await bot.send_message(USER_ID, "x")
    update = U.callback(
        user, "pay", message.model_dump(mode="json", by_alias=True, exclude_none=True)
    )
    server.push_update(update)
    query_id = update["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query_id)
    assert server.callback_answers[query_id]["callback_query_id"] == query_id


async def test_get_updates_confirms_with_offset(server: FakeBotAPI, bot: Bot) -> None:
    user = U.tg_user(USER_ID)
    ids = [server.push_update(U.message(user, f"m{i}")) for i in range(3)]
    assert ids == [1, 2, 3]
    first = await bot.get_updates(limit=2)
    assert [u.update_id for u in first] == [1, 2]
    again = await bot.get_updates()
    assert [u.update_id for u in again] == [1, 2, 3]  # nothing confirmed yet
    rest = await bot.get_updates(offset=3)
    assert [u.update_id for u in rest] == [3]
    assert len(server.pending_updates) == 1
    assert await bot.get_updates(offset=4) == []
    assert server.pending_updates == []


async def test_pushed_update_wakes_a_long_poll(server: FakeBotAPI, bot: Bot) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    assert not poll.done()
    server.push_update(U.command(U.tg_user(USER_ID), "/start", "acc_42"))
    updates = await asyncio.wait_for(poll, 5)
    assert time.monotonic() - started < 3
    assert len(updates) == 1 and updates[0].message is not None
    assert updates[0].message.text == "/start acc_42"


async def test_long_poll_times_out_empty(server: FakeBotAPI, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 3


async def test_second_poller_terminates_the_first(server: FakeBotAPI, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 5)
    assert await second == []


async def test_allowed_updates_filter(server: FakeBotAPI, bot: Bot) -> None:
    user = U.tg_user(USER_ID)
    group = U.group_chat()
    server.push_update(U.message(user, "hi"))
    server.push_update(U.my_chat_member(user, group, server.bot_user))
    only = await bot.get_updates(allowed_updates=["my_chat_member"])
    assert [u.my_chat_member is not None for u in only] == [True]
    # The message was dropped: Telegram keeps no updates of types the bot did not ask for.
    assert await bot.get_updates(offset=only[-1].update_id + 1, allowed_updates=[]) == []
    assert server.pending_updates == []
    server.push_update(U.message(user, "hi"))
    server.push_update({"chat_member": U.my_chat_member(user, group)["my_chat_member"]})
    # The default (allowed_updates=[]) excludes chat_member updates.
    assert [u.message is not None for u in await bot.get_updates()] == [True]


async def test_webhook_state(server: FakeBotAPI, bot: Bot) -> None:
    server.push_update(U.message(U.tg_user(USER_ID), "hi"))
    assert await bot.set_webhook("https://example.org/hook", secret_token="s3cret")
    info = await bot.get_webhook_info()
    assert info.url == "https://example.org/hook" and info.pending_update_count == 1
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    assert await bot.delete_webhook(drop_pending_updates=True)
    info = await bot.get_webhook_info()
    assert (info.url, info.pending_update_count) == ("", 0)


async def test_rate_limits_answer_429() -> None:
    async with FakeBotAPI(
        TOKEN, limits=RateLimits(global_per_second=3, per_chat_per_second=1)
    ) as api:
        bot = make_bot(api)
        try:
            await bot.send_message(1, "a")
            with pytest.raises(TelegramRetryAfter) as info:
                await bot.send_message(1, "b")
            assert info.value.retry_after == 1
            await bot.send_message(2, "a")
            await bot.send_message(3, "a")
            with pytest.raises(TelegramRetryAfter):
                await bot.send_message(4, "a")  # 4th message within a second overall
            assert await bot.send_chat_action(1, "typing")  # not a message
            assert api.rejected_429 == 2
            last = api.calls_of("sendMessage")[-1]
            assert last.status == 429
            assert last.response["parameters"] == {"retry_after": 1}
            assert last.response["description"] == "Too Many Requests: retry after 1"
            await asyncio.sleep(1.05)
            await bot.send_message(1, "c")
            assert [c.params["text"] for c in api.sent_to(1)] == ["a", "c"]
        finally:
            await bot.session.close()


async def test_blocked_chat_answers_403(server: FakeBotAPI, bot: Bot) -> None:
    server.block_chat(USER_ID)
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(USER_ID, "reminder")
    assert await bot.send_message(USER_ID + 1, "reminder")
    assert server.calls_of("sendMessage")[0].status == 403
    server.unblock_chat(USER_ID)
    assert await bot.send_message(USER_ID, "reminder")


async def test_injected_failures(server: FakeBotAPI, bot: Bot) -> None:
    server.fail_next("sendMessage", 502, "Bad Gateway")
    with pytest.raises(TelegramServerError):
        await bot.send_message(USER_ID, "x")
    assert await bot.send_message(USER_ID, "x")


async def test_wait_for_and_sent_to(server: FakeBotAPI, bot: Bot) -> None:
    mark = server.mark()

    async def later() -> None:
        await asyncio.sleep(0.1)
        await bot.send_message(USER_ID, "later")

    task = asyncio.create_task(later())
    call = await server.wait_for(lambda c: c.method == "sendMessage", 5, since=mark)
    await task
    assert call.params["text"] == "later" and call.result["text"] == "later"
    assert [c.params["text"] for c in server.sent_to(USER_ID)] == ["later"]
    with pytest.raises(TimeoutError, match="no matching Bot API call"):
        await server.wait_for(lambda c: c.method == "sendPhoto", 0.2)
    with pytest.raises(TelegramNotFound):
        await bot.session.make_request(bot, _UnknownMethod())  # type: ignore[arg-type]
    assert server.calls[-1].violations == ["notAMethod: unknown Bot API method"]


class _UnknownMethod:
    """The smallest stand-in for an aiogram TelegramMethod aimed at a non-existent method."""

    __api_method__ = "notAMethod"
    __returning__ = bool

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return {}


async def test_files_round_trip(server: FakeBotAPI, bot: Bot) -> None:
    file_id = server.add_file(b"%PDF-1.7 receipt", "receipt.pdf")
    server.push_update(U.document(U.tg_user(USER_ID), file_id=file_id))
    file = await bot.get_file(file_id)
    assert file.file_path is not None and file.file_path.endswith(".pdf")
    downloaded = await bot.download_file(file.file_path)
    assert downloaded is not None and downloaded.read() == b"%PDF-1.7 receipt"
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_messages_store_and_renumbering(server: FakeBotAPI, bot: Bot) -> None:
    user = U.tg_user(USER_ID)
    bot_message = await bot.send_message(USER_ID, "first")
    pushed = U.message_payload(user, message_id=bot_message.message_id, text="reply")
    server.push_update({"message": pushed})
    # The builder's id collided with the bot's message, so the server renumbered it.
    assert pushed["message_id"] == bot_message.message_id + 1
    assert [m["text"] for m in server.messages_in(USER_ID)] == ["first", "reply"]
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("x", chat_id=USER_ID, message_id=pushed["message_id"])


# -- update builders --------------------------------------------------------------------------


def test_builders_produce_valid_updates(checker: SpecChecker) -> None:
    users = U.UserFactory(start_id=500)
    alice, bob = users("Alice"), users("Bob", language_code="en", username="bob")
    assert (alice["id"], bob["id"], bob["language_code"]) == (500, 501, "en")
    forum = U.group_chat(-1_009_999_999_999, "Дом", is_forum=True)
    bot_message = {
        "message_id": 10,
        "from": U.DEFAULT_BOT,
        "chat": U.private_chat(alice),
        "date": U.now(),
        "text": "Выберите",
    }
    built = [
        U.message(alice, "привет"),
        U.message(alice, "в теме", forum, message_thread_id=7),
        U.command(alice, "/start", "ref_1"),
        U.command(alice, "help", chat=forum, bot_username="gas_test_bot"),
        U.contact(alice, "79001234567"),
        U.contact(alice, "+79001234568", 0, first_name="Мастер"),
        U.sticker(alice),
        U.photo(alice, "счётчик"),
        U.document(alice),
        U.voice(alice),
        U.location(alice),
        U.callback(alice, "menu:balance", bot_message),
        U.inline_query(alice, "лиц"),
        U.my_chat_member(alice, U.group_chat(-42, "Старый"), old_status="left"),
        U.my_chat_member(alice, forum, new_status="administrator", old_status="member"),
        U.edited_message(U.message_payload(alice, text="a"), "b"),
    ]
    for update in built:
        violations = checker.check_object("Update", update)
        # The only field aiogram needs beyond Bot API 10.1 is documented in updates.chat_member.
        assert all("can_send_welcome_messages" in v for v in violations), violations
        model = U.to_update(update)
        assert isinstance(model, Update) and model.event_type == next(
            k for k in update if k != "update_id"
        )
    start = U.to_update(built[2]).message
    assert start is not None and start.text == "/start ref_1"
    assert start.entities is not None and start.entities[0].length == len("/start")
    group_command = built[3]["message"]
    assert group_command["text"] == "/help@gas_test_bot"
    assert group_command["entities"][0]["length"] == len("/help@gas_test_bot")
    assert built[1]["message"]["is_topic_message"] is True
    assert built[4]["message"]["contact"]["user_id"] == alice["id"]
    assert "user_id" not in built[5]["message"]["contact"]


# -- a real dispatcher against the fake server ------------------------------------------------


async def test_dispatcher_polling_end_to_end(server: FakeBotAPI) -> None:
    from aiogram import Dispatcher, F
    from aiogram.client.default import DefaultBotProperties
    from aiogram.filters import CommandObject, CommandStart
    from aiogram.types import CallbackQuery, LinkPreviewOptions, Message

    bot = server.make_bot(
        default=DefaultBotProperties(
            parse_mode="HTML", link_preview=LinkPreviewOptions(is_disabled=True)
        )
    )
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        markup = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Баланс", callback_data="balance")]]
        )
        await message.answer(f"Здравствуйте! <code>{command.args}</code>", reply_markup=markup)
        await message.reply("Это ответ")

    @dp.callback_query(F.data == "balance")
    async def balance(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text(f"Было: {query.message.text}. Баланс: <b>10 ₽</b>")
        await query.answer()

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False)
    )
    try:
        user = U.tg_user(USER_ID, "Ivan")
        mark = server.mark()
        start_update = U.command(user, "/start", "acc_1")
        server.push_update(start_update)
        greeting = await server.wait_for_method("sendMessage", since=mark)
        reply = await server.wait_for(
            lambda c: c.method == "sendMessage" and c.params["text"] == "Это ответ", since=mark
        )
        assert greeting.result["text"] == "Здравствуйте! acc_1"
        replied_to = reply.params["reply_parameters"]["message_id"]
        assert replied_to == start_update["message"]["message_id"]

        # The test's snapshot is stale once the bot edited the message; Telegram (and the fake)
        # attach the current version to the callback query.
        await bot.edit_message_text(
            "Меню", chat_id=USER_ID, message_id=greeting.result["message_id"],
            reply_markup=InlineKeyboardMarkup.model_validate(greeting.result["reply_markup"]),
        )  # fmt: skip
        server.push_update(U.callback(user, "balance", greeting.result))
        edit = await server.wait_for(
            lambda c: c.method == "editMessageText" and "Баланс" in c.params["text"]
        )
        assert edit.result["text"] == "Было: Меню. Баланс: 10 ₽"
        await server.wait_for_method("answerCallbackQuery")
    finally:
        await dp.stop_polling()
        await polling
        await bot.session.close()
    allowed = server.calls_of("getUpdates")[0].params["allowed_updates"]
    assert sorted(allowed) == ["callback_query", "message"]
    server.assert_no_violations()


async def test_aiogram_link_preview_default_sends_a_deprecated_field(server: FakeBotAPI) -> None:
    from aiogram.client.default import DefaultBotProperties

    # DefaultBotProperties(link_preview_is_disabled=True) makes aiogram 3.31 send the removed
    # disable_web_page_preview next to link_preview_options; use link_preview=... instead.
    bot = server.make_bot(default=DefaultBotProperties(link_preview_is_disabled=True))
    try:
        await bot.send_message(USER_ID, "https://example.org")
    finally:
        await bot.session.close()
    assert server.violations == [
        "sendMessage.disable_web_page_preview: unknown field (Telegram ignores it)"
    ]

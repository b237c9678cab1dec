"""A local fake Bot API server that validates every request against the official spec.

Point aiogram at it with ``TelegramAPIServer.from_base(await server.start())`` (or run the bot
with ``TELEGRAM_API_URL`` set to that URL). Each request is recorded as an :class:`ApiCall`;
requests Telegram would reject are answered with Telegram's error and recorded as violations.
Violations that real Telegram tolerates (unknown fields, wrong-case method names) are recorded
too but answered normally, unless ``strict=True``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import itertools
import json
import math
import mimetypes
import socket
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import BodyPartReader, web

from tests.botapi.spec import FieldSpec, SpecChecker, Violation, parse_entities

JSON = dict[str, Any]
ChatId = int | str

# Methods Telegram counts against the flood limits (one message each).
_COUNTED_PREFIXES = ("send", "copyMessage", "forwardMessage")
_NOT_COUNTED = frozenset({"sendChatAction", "sendMessageDraft", "sendRichMessageDraft"})
# Methods answered 403 for a chat the user blocked the bot in.
_BLOCKABLE_PREFIXES = ("send", "copyMessage", "forwardMessage", "edit")
# Telegram's default when allowed_updates was never set or set to [].
_NOT_DEFAULT_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_MEDIA_KEYS = ("photo", "document", "video", "audio", "animation", "voice", "video_note", "sticker")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
# aiogram 3.31 follows Bot API 10.3 and requires fields that api.json (10.1) does not have.
_AIOGRAM_REQUIRED: dict[str, JSON] = {
    "ChatMemberAdministrator": {"can_send_welcome_messages": False},
    "ChatAdministratorRights": {"can_send_welcome_messages": False},
}
_QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@dataclass(frozen=True)
class RateLimits:
    """Flood limits like Telegram's; counted over sliding windows of sent messages."""

    global_per_second: float = 30
    per_chat_per_second: float = 1
    per_group_per_minute: float | None = None


@dataclass
class ApiCall:
    method: str  # the spec's spelling when the method exists, else as requested
    params: dict[str, Any]  # form strings decoded by the spec's types (JSON -> objects, "1" -> 1)
    raw: dict[str, Any]  # exactly as received (strings for form and query bodies)
    files: dict[str, bytes]  # by part name, and by field name for attach:// fields
    violations: list[str]
    time: float
    requested_method: str = ""
    http_method: str = "POST"
    filenames: dict[str, str] = field(default_factory=dict)
    status: int = 200
    response: JSON = field(default_factory=dict)
    index: int = 0

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def chat_id(self) -> ChatId | None:
        value = self.params.get("chat_id")
        return value if isinstance(value, int | str) else None


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    content: bytes
    file_path: str
    file_name: str


class _ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass
class _InjectedError:
    method: str | None
    chat_id: ChatId | None
    error: _ApiError
    times: int


class _SlidingWindow:
    def __init__(self, limit: float, window: float) -> None:
        self.limit = limit
        self.window = window
        self.hits: collections.deque[float] = collections.deque()

    def retry_after(self, now: float) -> int | None:
        while self.hits and now - self.hits[0] >= self.window:
            self.hits.popleft()
        if len(self.hits) < self.limit:
            return None
        return max(1, math.ceil(self.window - (now - self.hits[0])))

    def hit(self, now: float) -> None:
        self.hits.append(now)


class FakeBotAPI:
    """In-process Bot API server on 127.0.0.1 with spec checking and test helpers."""

    def __init__(
        self,
        token: str,
        checker: SpecChecker | None = None,
        *,
        bot_username: str = "gas_test_bot",
        bot_first_name: str = "Gas Test Bot",
        limits: RateLimits | None = None,
        strict: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        self.token = token
        self.checker = checker or SpecChecker.load()
        self.limits = limits
        self.strict = strict
        self.host = host
        bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.bot_user: JSON = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.base_url = ""

        self.calls: list[ApiCall] = []
        self.violations: list[str] = []
        self.rejected_429 = 0
        self.blocked_chats: dict[ChatId, str] = {}

        self.pending_updates: list[JSON] = []
        self.allowed_updates: list[str] | None = None
        self.webhook: JSON = {"url": ""}

        self.commands: dict[tuple[tuple[Any, ...], str], list[JSON]] = {}
        self.descriptions: dict[str, str] = {}
        self.short_descriptions: dict[str, str] = {}
        self.names: dict[str, str] = {}
        self.menu_buttons: dict[ChatId | None, JSON] = {}
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.inline_answers: dict[str, dict[str, Any]] = {}
        self.chat_members: dict[tuple[ChatId, int], JSON] = {}

        self.messages: dict[ChatId, dict[int, JSON]] = {}
        self.users: dict[int, JSON] = {}
        self.chats: dict[ChatId, JSON] = {}
        self.files: dict[str, StoredFile] = {}

        self._next_update_id = 1
        self._last_message_id: dict[ChatId, int] = {}
        self._open_callback_queries: set[str] = set()
        self._open_inline_queries: set[str] = set()
        self._file_counter = itertools.count(1)
        self._media_group_counter = itertools.count(1)
        self._injected: list[_InjectedError] = []
        self._global_window: _SlidingWindow | None = None
        self._chat_windows: dict[ChatId, _SlidingWindow] = {}
        self._group_windows: dict[ChatId, _SlidingWindow] = {}
        self._poll_generation = 0
        self._closing = False
        self._wakeup = asyncio.Event()
        self._calls_changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> str:
        """Start listening on a free port; return the base URL (``http://127.0.0.1:PORT``)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        self._closing = False
        self._global_window = (
            _SlidingWindow(self.limits.global_per_second, 1.0) if self.limits else None
        )
        self.base_url = f"http://{self.host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        self._closing = True
        self._wakeup.set()  # let pending long polls return before the runner waits for them
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- test helpers -------------------------------------------------------------------------

    def push_update(self, update: JSON) -> int:
        """Queue an update for getUpdates; assigns and returns its update_id.

        The server learns users, chats and messages from it; a new message whose message_id
        collides with a known one is renumbered in place (the caller's dict sees the new id).
        """
        update = dict(update)
        update_id = self._next_update_id
        self._next_update_id += 1
        update["update_id"] = update_id
        self._learn_update(update)
        self.pending_updates.append(update)
        self._wakeup.set()
        return update_id

    async def wait_for(
        self,
        predicate: Callable[[ApiCall], bool],
        timeout: float = 10,
        *,
        since: int = 0,
    ) -> ApiCall:
        """First recorded call at index >= ``since`` matching ``predicate`` (waits for it)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        index = since
        async with self._calls_changed:
            while True:
                for call in self.calls[index:]:
                    if predicate(call):
                        return call
                index = max(index, len(self.calls))
                remaining = deadline - loop.time()
                try:
                    if remaining <= 0:
                        raise TimeoutError
                    await asyncio.wait_for(self._calls_changed.wait(), remaining)
                except TimeoutError:
                    seen = [f"{c.method}({c.status})" for c in self.calls[since:]]
                    raise TimeoutError(
                        f"no matching Bot API call within {timeout}s; calls since #{since}: {seen}"
                    ) from None

    async def wait_for_method(
        self,
        method: str,
        timeout: float = 10,
        *,
        since: int = 0,
        chat_id: ChatId | None = None,
    ) -> ApiCall:
        return await self.wait_for(
            lambda c: c.method == method and (chat_id is None or c.chat_id == chat_id),
            timeout,
            since=since,
        )

    def make_bot(self, **kwargs: Any) -> Bot:
        """An aiogram Bot talking to this server; close it with ``await bot.session.close()``."""
        session = AiohttpSession(api=TelegramAPIServer.from_base(self.base_url))
        return Bot(self.token, session=session, **kwargs)

    def mark(self) -> int:
        """Index to pass as ``since`` to only consider calls made from now on."""
        return len(self.calls)

    def calls_of(self, method: str) -> list[ApiCall]:
        wanted = self.checker.canonical_method(method) or method
        return [c for c in self.calls if c.method == wanted]

    def sent_to(self, chat_id: ChatId) -> list[ApiCall]:
        """Successful message-sending calls (send*, copy*, forward*) to ``chat_id``."""
        return [
            c for c in self.calls if c.ok and _counts_as_message(c.method) and c.chat_id == chat_id
        ]

    def messages_in(self, chat_id: ChatId) -> list[JSON]:
        """Messages the server currently knows in a chat (sent, pushed, edited), by id."""
        return [m for _, m in sorted(self.messages.get(chat_id, {}).items())]

    def commands_for(self, scope: JSON | None = None, language_code: str = "") -> list[JSON] | None:
        """Commands stored by setMyCommands for a scope (default scope when None)."""
        return self.commands.get((_scope_key(scope), language_code))

    def block_chat(
        self, chat_id: ChatId, description: str = "Forbidden: bot was blocked by the user"
    ) -> None:
        """Answer 403 to messages sent to (or edited in) ``chat_id``."""
        self.blocked_chats[chat_id] = description

    def unblock_chat(self, chat_id: ChatId) -> None:
        self.blocked_chats.pop(chat_id, None)

    def fail_next(
        self,
        method: str | None,
        error_code: int = 500,
        description: str = "Internal Server Error",
        *,
        times: int = 1,
        chat_id: ChatId | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next ``times`` matching valid calls with an error (None = any method)."""
        parameters = {"retry_after": retry_after} if retry_after is not None else None
        canonical = self.checker.canonical_method(method) if method else None
        self._injected.append(
            _InjectedError(
                canonical or method, chat_id, _ApiError(error_code, description, parameters), times
            )
        )

    def add_file(
        self, content: bytes, file_name: str = "file.bin", *, folder: str = "documents"
    ) -> str:
        """Store a file as if a user had sent it; returns its file_id for update builders."""
        return self._store_file(content, file_name, folder).file_id

    def set_chat_member(
        self, chat_id: ChatId, user: JSON, status: str = "member", **extra: Any
    ) -> None:
        """What getChatMember answers for ``user`` in ``chat_id`` (a full ChatMember)."""
        member_type = {
            "creator": "ChatMemberOwner",
            "administrator": "ChatMemberAdministrator",
            "member": "ChatMemberMember",
            "restricted": "ChatMemberRestricted",
            "left": "ChatMemberLeft",
            "kicked": "ChatMemberBanned",
        }[status]
        member: JSON = self._example(member_type)
        member.update({"status": status, "user": user, **extra})
        self.chat_members[(chat_id, int(user["id"]))] = member

    def assert_no_violations(self) -> None:
        assert not self.violations, "Bot API spec violations:\n" + "\n".join(self.violations)

    # -- HTTP ---------------------------------------------------------------------------------

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(_ApiError(401, "Unauthorized").body(), status=401)
        path = request.match_info["path"]
        for stored in self.files.values():
            if stored.file_path == path:
                return web.Response(body=stored.content, content_type="application/octet-stream")
        return web.json_response(_ApiError(404, "Not Found").body(), status=404)

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        received = time.time()
        requested = request.match_info["method"]
        raw: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        filenames: dict[str, str] = {}
        call = ApiCall(
            method=self.checker.canonical_method(requested) or requested,
            params={},
            raw=raw,
            files=files,
            violations=[],
            time=received,
            requested_method=requested,
            http_method=request.method,
            filenames=filenames,
        )
        try:
            if request.match_info["token"] != self.token:
                call.violations.append(f"{requested}: request with a wrong bot token")
                raise _ApiError(401, "Unauthorized")
            await _read_params(request, raw, files, filenames)
            details = self.checker.check_detailed(requested, raw, files)
            call.violations.extend(str(v) for v in details)
            call.params = self._decode(call.method, raw)
            self._alias_attached_files(call)
            _raise_for_violations(details, strict=self.strict)
            result = await self._dispatch(call)
            call.response = {"ok": True, "result": result}
        except _ApiError as exc:
            call.status = exc.code
            call.response = exc.body()
            if exc.code == 429:
                self.rejected_429 += 1
        except Exception as exc:  # a harness bug must fail the test, not hang the bot
            call.status = 500
            call.response = _ApiError(500, f"Internal Server Error: {exc!r}").body()
            call.violations.append(f"{call.method}: fake server failed: {exc!r}")
        await self._record(call)
        return web.json_response(call.response, status=call.status)

    async def _record(self, call: ApiCall) -> None:
        async with self._calls_changed:
            call.index = len(self.calls)
            self.calls.append(call)
            self.violations.extend(call.violations)
            self._calls_changed.notify_all()

    def _decode(self, method: str, raw: dict[str, Any]) -> dict[str, Any]:
        spec = self.checker.methods.get(method)
        fields = spec.fields if spec else {}
        return {key: _decode_value(fields.get(key), value) for key, value in raw.items()}

    def _alias_attached_files(self, call: ApiCall) -> None:
        for key, value in call.raw.items():
            if isinstance(value, str) and value.startswith("attach://"):
                part = value.removeprefix("attach://")
                if part in call.files and key not in call.files:
                    call.files[key] = call.files[part]
                    call.filenames[key] = call.filenames.get(part, part)

    # -- method behaviour ---------------------------------------------------------------------

    async def _dispatch(self, call: ApiCall) -> Any:
        method = call.method
        self._apply_injected(call)
        chat_id = call.chat_id
        blockable = chat_id is not None and method.startswith(_BLOCKABLE_PREFIXES)
        if blockable and chat_id in self.blocked_chats:
            raise _ApiError(403, self.blocked_chats[chat_id])
        if self.limits is not None and _counts_as_message(method) and chat_id is not None:
            self._rate_limit(chat_id)
        handler = getattr(self, f"_m_{method}", None)
        if handler is not None:
            result: Any = handler(call)
            if asyncio.iscoroutine(result):
                result = await result
            return result
        spec = self.checker.methods[method]
        if method.startswith("send") and "chat_id" in call.params and "Message" in spec.returns:
            return self._send_generic(call)
        if not spec.returns or "Boolean" in spec.returns or "True" in spec.returns:
            return True
        return self._example(spec.returns[0])

    def _example(self, type_expr: str) -> Any:
        value = self.checker.example(type_expr)
        if isinstance(value, dict):
            value.update(_AIOGRAM_REQUIRED.get(type_expr, {}))
        return value

    def _apply_injected(self, call: ApiCall) -> None:
        for injected in self._injected:
            if injected.method not in (None, call.method):
                continue
            if injected.chat_id is not None and injected.chat_id != call.chat_id:
                continue
            injected.times -= 1
            if injected.times <= 0:
                self._injected.remove(injected)
            raise injected.error

    def _rate_limit(self, chat_id: ChatId) -> None:
        assert self.limits is not None
        now = time.monotonic()
        windows: list[_SlidingWindow] = []
        if self._global_window is not None:
            windows.append(self._global_window)
        windows.append(
            self._chat_windows.setdefault(
                chat_id, _SlidingWindow(self.limits.per_chat_per_second, 1.0)
            )
        )
        if self.limits.per_group_per_minute is not None and _is_group_id(chat_id):
            windows.append(
                self._group_windows.setdefault(
                    chat_id, _SlidingWindow(self.limits.per_group_per_minute, 60.0)
                )
            )
        waits = [w for w in (window.retry_after(now) for window in windows) if w is not None]
        if waits:
            retry = max(waits)
            raise _ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        for window in windows:
            window.hit(now)

    # updates and webhook

    async def _m_getUpdates(self, call: ApiCall) -> list[JSON]:
        if self.webhook.get("url"):
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        params = call.params
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"])
        offset = params.get("offset")
        if isinstance(offset, int) and offset:
            self._confirm(offset)
        limit = min(max(int(params.get("limit", 100)), 1), 100)
        timeout = max(float(params.get("timeout", 0)), 0.0)
        self._poll_generation += 1
        generation = self._poll_generation
        self._wakeup.set()  # an older long poll must notice it has been superseded
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise _ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            batch = self._deliverable(limit)
            remaining = deadline - loop.time()
            if batch or self._closing or remaining <= 0:
                return batch
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)

    def _confirm(self, offset: int) -> None:
        if offset > 0:
            self.pending_updates = [u for u in self.pending_updates if u["update_id"] >= offset]
        else:
            self.pending_updates = self.pending_updates[offset:]

    def _deliverable(self, limit: int) -> list[JSON]:
        allowed = set(self.allowed_updates or ())
        kept: list[JSON] = []
        for update in self.pending_updates:
            kind = _update_type(update)
            ok = kind in allowed if allowed else kind not in _NOT_DEFAULT_UPDATES
            if ok:
                kept.append(update)
        # Telegram never stores updates of types the bot did not subscribe to.
        self.pending_updates = kept
        return kept[:limit]

    def _m_setWebhook(self, call: ApiCall) -> bool:
        params = call.params
        if params.get("drop_pending_updates"):
            self.pending_updates.clear()
        self.webhook = {
            key: params[key]
            for key in ("url", "secret_token", "max_connections", "ip_address", "allowed_updates")
            if key in params
        }
        self.webhook.setdefault("url", "")
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"])
        return True

    def _m_deleteWebhook(self, call: ApiCall) -> bool:
        if call.params.get("drop_pending_updates"):
            self.pending_updates.clear()
        self.webhook = {"url": ""}
        return True

    def _m_getWebhookInfo(self, call: ApiCall) -> JSON:
        info: JSON = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending_updates),
        }
        for key in ("max_connections", "ip_address", "allowed_updates"):
            if key in self.webhook:
                info[key] = self.webhook[key]
        return info

    # bot settings

    def _m_getMe(self, call: ApiCall) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
        }

    def _m_setMyCommands(self, call: ApiCall) -> bool:
        key = (_scope_key(call.params.get("scope")), call.params.get("language_code", ""))
        self.commands[key] = list(call.params["commands"])
        return True

    def _m_getMyCommands(self, call: ApiCall) -> list[JSON]:
        key = (_scope_key(call.params.get("scope")), call.params.get("language_code", ""))
        return self.commands.get(key, [])

    def _m_deleteMyCommands(self, call: ApiCall) -> bool:
        key = (_scope_key(call.params.get("scope")), call.params.get("language_code", ""))
        self.commands.pop(key, None)
        return True

    def _m_setMyDescription(self, call: ApiCall) -> bool:
        self.descriptions[call.params.get("language_code", "")] = call.params.get("description", "")
        return True

    def _m_getMyDescription(self, call: ApiCall) -> JSON:
        lang = call.params.get("language_code", "")
        return {"description": self.descriptions.get(lang, self.descriptions.get("", ""))}

    def _m_setMyShortDescription(self, call: ApiCall) -> bool:
        lang = call.params.get("language_code", "")
        self.short_descriptions[lang] = call.params.get("short_description", "")
        return True

    def _m_getMyShortDescription(self, call: ApiCall) -> JSON:
        lang = call.params.get("language_code", "")
        short = self.short_descriptions.get(lang, self.short_descriptions.get("", ""))
        return {"short_description": short}

    def _m_setMyName(self, call: ApiCall) -> bool:
        self.names[call.params.get("language_code", "")] = call.params.get("name", "")
        return True

    def _m_getMyName(self, call: ApiCall) -> JSON:
        lang = call.params.get("language_code", "")
        return {"name": self.names.get(lang, self.bot_user["first_name"])}

    def _m_setChatMenuButton(self, call: ApiCall) -> bool:
        button = call.params.get("menu_button", {"type": "default"})
        self.menu_buttons[call.params.get("chat_id")] = button
        return True

    def _m_getChatMenuButton(self, call: ApiCall) -> JSON:
        chat_id = call.params.get("chat_id")
        return self.menu_buttons.get(chat_id, self.menu_buttons.get(None, {"type": "commands"}))

    # queries

    def _m_answerCallbackQuery(self, call: ApiCall) -> bool:
        query_id = str(call.params["callback_query_id"])
        if query_id not in self._open_callback_queries:
            raise _ApiError(400, _QUERY_TOO_OLD)
        self._open_callback_queries.discard(query_id)
        self.callback_answers[query_id] = call.params
        return True

    def _m_answerInlineQuery(self, call: ApiCall) -> bool:
        query_id = str(call.params["inline_query_id"])
        if query_id not in self._open_inline_queries:
            raise _ApiError(400, _QUERY_TOO_OLD)
        self._open_inline_queries.discard(query_id)
        self.inline_answers[query_id] = call.params
        return True

    # chats

    def _m_getChat(self, call: ApiCall) -> JSON:
        info = self.checker.example_object("ChatFullInfo")
        info.update(self._chat(call.params["chat_id"]))
        return info

    def _m_getChatMember(self, call: ApiCall) -> JSON:
        chat_id = call.params["chat_id"]
        user_id = int(call.params["user_id"])
        if (chat_id, user_id) in self.chat_members:
            return self.chat_members[(chat_id, user_id)]
        user = self.bot_user if user_id == self.bot_user["id"] else self._user(user_id)
        return {"status": "member", "user": user}

    def _m_leaveChat(self, call: ApiCall) -> bool:
        return True

    def _m_sendChatAction(self, call: ApiCall) -> bool:
        return True

    def _m_getFile(self, call: ApiCall) -> JSON:
        stored = self.files.get(str(call.params["file_id"]))
        if stored is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": stored.file_path,
        }

    # messages

    def _m_sendMessage(self, call: ApiCall) -> JSON:
        content = self._formatted(call.params, "text", "parse_mode", "entities")
        return self._new_message(call.params["chat_id"], call.params, content)

    def _m_sendPhoto(self, call: ApiCall) -> JSON:
        content = {"photo": self._photo_sizes(call, "photo")}
        content |= self._formatted(call.params, "caption", "parse_mode", "caption_entities")
        return self._new_message(call.params["chat_id"], call.params, content)

    def _m_sendDocument(self, call: ApiCall) -> JSON:
        content = {"document": self._document(call, "document")}
        content |= self._formatted(call.params, "caption", "parse_mode", "caption_entities")
        return self._new_message(call.params["chat_id"], call.params, content)

    def _m_sendMediaGroup(self, call: ApiCall) -> list[JSON]:
        group_id = f"{next(self._media_group_counter):018d}"
        sent: list[JSON] = []
        for item in call.params["media"]:
            kind = item["type"]
            media = item["media"]
            part = media.removeprefix("attach://") if media.startswith("attach://") else None
            content: JSON = {"media_group_id": group_id}
            if kind == "photo":
                content["photo"] = self._photo_sizes_for(call, media, part)
            else:
                content[kind] = self._file_object(kind, call, media, part)
            content |= self._formatted(item, "caption", "parse_mode", "caption_entities")
            sent.append(self._new_message(call.params["chat_id"], call.params, content))
        return sent

    def _send_generic(self, call: ApiCall) -> JSON:
        """Any other send* method: the Message field named after it, built from the spec."""
        method = call.method
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in method[4:]).lstrip("_")
        message_fields = self.checker.types["Message"].fields
        content: JSON = {}
        if snake in message_fields:
            type_expr = message_fields[snake].types[0]
            if snake in call.params or snake in call.files:
                media = call.params.get(snake, "")
                part = snake if snake in call.files else None
                if type_expr == "Array of PhotoSize":
                    content[snake] = self._photo_sizes_for(call, media, part)
                else:
                    content[snake] = self._file_object(type_expr, call, media, part, snake)
            else:
                content[snake] = self._object_from_params(type_expr, call.params)
        content |= self._formatted(call.params, "caption", "parse_mode", "caption_entities")
        return self._new_message(call.params["chat_id"], call.params, content)

    def _m_copyMessage(self, call: ApiCall) -> JSON:
        source = self._find_message(call.params["from_chat_id"], call.params["message_id"])
        if source is None:
            raise _ApiError(400, "Bad Request: message to copy not found")
        content = {
            k: v for k, v in source.items() if k in ("text", "entities", "caption", *_MEDIA_KEYS)
        }
        if "caption" in call.params:
            content |= self._formatted(call.params, "caption", "parse_mode", "caption_entities")
        message = self._new_message(call.params["chat_id"], call.params, content)
        return {"message_id": message["message_id"]}

    def _m_forwardMessage(self, call: ApiCall) -> JSON:
        source = self._find_message(call.params["from_chat_id"], call.params["message_id"])
        if source is None:
            raise _ApiError(400, "Bad Request: message to forward not found")
        content = {
            k: v for k, v in source.items() if k in ("text", "entities", "caption", *_MEDIA_KEYS)
        }
        sender = source.get("from", self.bot_user)
        content["forward_origin"] = {"type": "user", "sender_user": sender, "date": source["date"]}
        return self._new_message(call.params["chat_id"], {}, content)

    def _m_editMessageText(self, call: ApiCall) -> JSON | bool:
        if "inline_message_id" in call.params:
            return True
        message = self._editable(call)
        if "text" not in message:
            raise _ApiError(400, "Bad Request: there is no text in the message to edit")
        new = self._formatted(call.params, "text", "parse_mode", "entities")
        return self._apply_edit(message, new, ("text", "entities"), call.params.get("reply_markup"))

    def _m_editMessageCaption(self, call: ApiCall) -> JSON | bool:
        if "inline_message_id" in call.params:
            return True
        message = self._editable(call)
        if not any(key in message for key in _MEDIA_KEYS):
            raise _ApiError(400, "Bad Request: there is no caption in the message to edit")
        new = self._formatted(call.params, "caption", "parse_mode", "caption_entities")
        return self._apply_edit(
            message, new, ("caption", "caption_entities"), call.params.get("reply_markup")
        )

    def _m_editMessageReplyMarkup(self, call: ApiCall) -> JSON | bool:
        if "inline_message_id" in call.params:
            return True
        message = self._editable(call)
        return self._apply_edit(message, {}, (), call.params.get("reply_markup"))

    def _m_deleteMessage(self, call: ApiCall) -> bool:
        chat_id = call.params["chat_id"]
        if self._find_message(chat_id, call.params["message_id"]) is None:
            raise _ApiError(400, "Bad Request: message to delete not found")
        del self.messages[chat_id][int(call.params["message_id"])]
        return True

    def _m_deleteMessages(self, call: ApiCall) -> bool:
        chat = self.messages.get(call.params["chat_id"], {})
        for message_id in call.params["message_ids"]:
            chat.pop(int(message_id), None)
        return True

    def _editable(self, call: ApiCall) -> JSON:
        message = self._find_message(call.params["chat_id"], call.params["message_id"])
        if message is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != self.bot_user["id"]:
            raise _ApiError(400, "Bad Request: message can't be edited")
        return message

    def _apply_edit(self, message: JSON, new: JSON, keys: tuple[str, ...], markup: Any) -> JSON:
        # Editing without reply_markup removes the inline keyboard, as in Telegram.
        new_markup = markup if isinstance(markup, dict) and "inline_keyboard" in markup else None
        same_content = all(new.get(k) == message.get(k) for k in keys)
        if same_content and new_markup == message.get("reply_markup"):
            raise _ApiError(400, _NOT_MODIFIED)
        for key in keys:
            message.pop(key, None)
        message.update(new)
        if new_markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = new_markup
        message["edit_date"] = int(time.time())
        return dict(message)

    # -- building results ---------------------------------------------------------------------

    def _new_message(self, chat_id: ChatId, params: dict[str, Any], content: JSON) -> JSON:
        chat = self._chat(chat_id)
        key = chat["id"]
        message_id = self._last_message_id.get(key, 0) + 1
        self._last_message_id[key] = message_id
        message: JSON = {
            "message_id": message_id,
            "from": self.bot_user,
            "date": int(time.time()),
            "chat": chat,
        }
        thread = params.get("message_thread_id")
        if isinstance(thread, int) and chat["type"] == "supergroup":
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            target = self._find_message(reply.get("chat_id", chat_id), reply.get("message_id", 0))
            if target is not None:
                message["reply_to_message"] = {
                    k: v for k, v in target.items() if k != "reply_to_message"
                }
        message.update(content)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup
        self.messages.setdefault(key, {})[message_id] = message
        if isinstance(chat_id, str):
            self.messages.setdefault(chat_id, {})[message_id] = message
        return dict(message)

    def _formatted(
        self, params: dict[str, Any], text_key: str, mode_key: str, entities_key: str
    ) -> JSON:
        if text_key not in params or not isinstance(params[text_key], str):
            return {}
        entities = params.get(entities_key)
        mode = params.get(mode_key)
        try:
            text, parsed = parse_entities(params[text_key], mode if isinstance(mode, str) else None)
        except ValueError:
            text, parsed = params[text_key], []
        if isinstance(entities, list):
            parsed = entities
        out_entities_key = "entities" if text_key == "text" else "caption_entities"
        result: JSON = {text_key: text}
        if parsed:
            result[out_entities_key] = parsed
        return result

    def _chat(self, chat_id: ChatId) -> JSON:
        if chat_id in self.chats:
            return dict(self.chats[chat_id])
        if isinstance(chat_id, str):
            digest = int(hashlib.sha256(chat_id.encode()).hexdigest()[:9], 16)
            chat = {
                "id": -1_000_000_000_000 - digest,
                "type": "channel",
                "title": chat_id.lstrip("@"),
                "username": chat_id.lstrip("@"),
            }
            self.chats[chat_id] = chat
            return dict(chat)
        if chat_id > 0:
            user = self._user(chat_id)
            chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            for key in ("last_name", "username"):
                if key in user:
                    chat[key] = user[key]
            return chat
        if chat_id <= -1_000_000_000_000:
            return {"id": chat_id, "type": "supergroup", "title": "Test supergroup"}
        return {"id": chat_id, "type": "group", "title": "Test group"}

    def _user(self, user_id: int) -> JSON:
        return self.users.get(user_id, {"id": user_id, "is_bot": False, "first_name": "User"})

    def _find_message(self, chat_id: Any, message_id: Any) -> JSON | None:
        try:
            return self.messages.get(chat_id, {}).get(int(message_id))
        except (TypeError, ValueError):
            return None

    def _store_file(self, content: bytes, file_name: str, folder: str) -> StoredFile:
        number = next(self._file_counter)
        digest = hashlib.sha256(content).hexdigest()
        extension = file_name.rsplit(".", 1)[-1] if "." in file_name else "bin"
        stored = StoredFile(
            file_id=f"F{number:04d}{digest[:28]}",
            file_unique_id=f"U{digest[:15]}",
            content=content,
            file_path=f"{folder}/file_{number}.{extension}",
            file_name=file_name,
        )
        self.files[stored.file_id] = stored
        return stored

    def _resolve_file(
        self, call: ApiCall, media: Any, part: str | None, default_name: str, folder: str
    ) -> tuple[StoredFile | None, str]:
        """The stored file behind an upload or a known file_id, else the external reference."""
        if part is not None and part in call.files:
            name = call.filenames.get(part, default_name)
            return self._store_file(call.files[part], name, folder), name
        if isinstance(media, str) and media in self.files:
            return self.files[media], self.files[media].file_name
        return None, default_name

    def _photo_sizes(self, call: ApiCall, key: str) -> list[JSON]:
        media = call.params.get(key, "")
        part = key if key in call.files else None  # attach:// fields are aliased by name
        return self._photo_sizes_for(call, media, part)

    def _photo_sizes_for(self, call: ApiCall, media: Any, part: str | None) -> list[JSON]:
        stored, _ = self._resolve_file(call, media, part, "photo.jpg", "photos")
        if stored is None:
            digest = hashlib.sha256(str(media).encode()).hexdigest()
            file_id, unique, size, (width, height) = (
                f"P{digest[:40]}",
                f"U{digest[:15]}",
                0,
                (800, 600),
            )
        else:
            file_id, unique, size = stored.file_id, stored.file_unique_id, len(stored.content)
            width, height = _image_size(stored.content)
        scale = min(1.0, 90 / max(width, height, 1))
        thumb = {
            "file_id": f"{file_id}_s",
            "file_unique_id": f"{unique}s",
            "width": max(1, round(width * scale)),
            "height": max(1, round(height * scale)),
        }
        full = {"file_id": file_id, "file_unique_id": unique, "width": width, "height": height}
        if size:
            full["file_size"] = size
        return [thumb, full]

    def _document(self, call: ApiCall, key: str) -> JSON:
        media = call.params.get(key, "")
        part = key if key in call.files else None  # attach:// fields are aliased by name
        return self._file_object("Document", call, media, part, key)

    def _file_object(
        self, kind: str, call: ApiCall, media: Any, part: str | None, key: str = ""
    ) -> JSON:
        type_expr = kind if kind[:1].isupper() else _message_field_type(self.checker, kind)
        folder = {"Document": "documents", "Voice": "voice", "Audio": "music", "Video": "videos"}
        stored, name = self._resolve_file(
            call, media, part, key or "file", folder.get(type_expr, "documents")
        )
        obj = self.checker.example_object(type_expr)
        if stored is not None:
            obj.update(
                file_id=stored.file_id,
                file_unique_id=stored.file_unique_id,
                file_size=len(stored.content),
            )
        else:
            digest = hashlib.sha256(str(media).encode()).hexdigest()
            obj.update(file_id=f"D{digest[:40]}", file_unique_id=f"U{digest[:15]}")
        fields = self.checker.types[type_expr].fields
        if "file_name" in fields:
            obj["file_name"] = name
        if "mime_type" in fields:
            obj["mime_type"] = mimetypes.guess_type(name)[0] or "application/octet-stream"
        for param in ("duration", "width", "height", "performer", "title"):
            if param in fields and param in call.params:
                obj[param] = call.params[param]
        return obj

    def _object_from_params(self, type_expr: str, params: dict[str, Any]) -> JSON:
        """An example of ``type_expr`` carrying the scalar request params of the same name."""
        obj = self.checker.example(type_expr)
        if not isinstance(obj, dict):
            return {}
        for name, spec in self.checker.types[type_expr].fields.items():
            value = params.get(name)
            if name != "chat_id" and value is not None and _scalar_fits(spec.types, value):
                obj[name] = value
        return obj

    # -- learning from pushed updates ---------------------------------------------------------

    def _learn_update(self, update: JSON) -> None:
        for key, payload in list(update.items()):
            if not isinstance(payload, dict):
                continue
            self._learn_people(payload)
            if key in ("message", "channel_post", "business_message"):
                self._learn_message(payload, renumber=True)
            elif key.startswith("edited_"):
                self._learn_message(payload, renumber=False)
            elif key == "callback_query":
                self._open_callback_queries.add(str(payload["id"]))
                message = payload.get("message")
                if isinstance(message, dict) and message.get("date"):
                    current = self._find_message(message["chat"]["id"], message["message_id"])
                    if current is None:
                        self._learn_message(message, renumber=False)
                    else:
                        # Telegram attaches the message as it is now, not as the test saw it.
                        update[key] = {**payload, "message": dict(current)}
            elif key == "inline_query":
                self._open_inline_queries.add(str(payload["id"]))

    def _learn_people(self, payload: JSON) -> None:
        sender = payload.get("from")
        if isinstance(sender, dict) and "id" in sender and not sender.get("is_bot"):
            self.users[int(sender["id"])] = sender
        chat = payload.get("chat")
        if isinstance(chat, dict) and "id" in chat and chat.get("type") != "private":
            self.chats[chat["id"]] = chat

    def _learn_message(self, message: JSON, *, renumber: bool) -> None:
        chat = message.get("chat")
        if not isinstance(chat, dict) or "id" not in chat:
            return
        key = chat["id"]
        known = self.messages.setdefault(key, {})
        message_id = int(message.get("message_id", 0))
        if renumber and (message_id in known or message_id <= 0):
            # Builders number messages independently of what the bot has sent meanwhile.
            message_id = max(self._last_message_id.get(key, 0), *known.keys(), 0) + 1
            message["message_id"] = message_id
        self._last_message_id[key] = max(self._last_message_id.get(key, 0), message_id)
        known[message_id] = message


# ---------------------------------------------------------------------------------------------


async def _read_params(
    request: web.Request,
    raw: dict[str, Any],
    files: dict[str, bytes],
    filenames: dict[str, str],
) -> None:
    raw.update(request.query)
    if request.method != "POST" or not request.body_exists:
        return
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            raise _ApiError(400, "Bad Request: can't parse JSON body") from None
        if not isinstance(body, dict):
            raise _ApiError(400, "Bad Request: JSON body must be an object")
        raw.update(body)
    elif content_type == "multipart/form-data":
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                files[part.name] = bytes(await part.read(decode=True))
                filenames[part.name] = part.filename
            else:
                raw[part.name] = await part.text()
    else:
        form = await request.post()
        raw.update({key: value for key, value in form.items() if isinstance(value, str)})


def _raise_for_violations(details: Iterable[Violation], *, strict: bool) -> None:
    for violation in details:
        if violation.tolerated and not strict:
            continue
        if violation.telegram == "Not Found":
            raise _ApiError(404, "Not Found")
        raise _ApiError(400, f"Bad Request: {violation.telegram}")


def _decode_value(spec: FieldSpec | None, value: Any) -> Any:
    if not isinstance(value, str):
        text_only = spec is not None and spec.types == ("String",)
        if text_only and isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)  # what Telegram does with numbers in a JSON body
        return value
    types = spec.types if spec else ()
    for type_expr in types:
        if type_expr == "Integer" and _is_int(value):
            return int(value)
        if type_expr == "Float":
            try:
                return float(value)
            except ValueError:
                continue
        if type_expr == "Boolean" and value in ("true", "false"):
            return value == "true"
        if type_expr in ("String", "InputFile"):
            return value
        if type_expr not in ("Integer", "Float", "Boolean"):
            try:
                return json.loads(value)
            except ValueError:
                continue
    if not spec and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _is_int(value: str) -> bool:
    return value.lstrip("-").isdigit() and value.count("-") <= 1


def _scalar_fits(types: tuple[str, ...], value: Any) -> bool:
    if isinstance(value, bool):
        return "Boolean" in types
    if isinstance(value, int):
        return "Integer" in types or "Float" in types
    if isinstance(value, float):
        return "Float" in types
    return isinstance(value, str) and "String" in types


def _counts_as_message(method: str) -> bool:
    return method.startswith(_COUNTED_PREFIXES) and method not in _NOT_COUNTED


def _is_group_id(chat_id: ChatId) -> bool:
    return isinstance(chat_id, str) or chat_id < 0


def _scope_key(scope: Any) -> tuple[Any, ...]:
    if not isinstance(scope, dict):
        return ("default",)
    return (scope.get("type", "default"), scope.get("chat_id"), scope.get("user_id"))


def _update_type(update: JSON) -> str:
    return next((key for key in update if key != "update_id"), "")


def _message_field_type(checker: SpecChecker, kind: str) -> str:
    field_spec = checker.types["Message"].fields.get(kind)
    return field_spec.types[0] if field_spec else "Document"


def _image_size(content: bytes) -> tuple[int, int]:
    """Width and height of a PNG or JPEG, else a plausible default."""
    if content[:8] == b"\x89PNG\r\n\x1a\n" and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return int(width), int(height)
    if content[:2] == b"\xff\xd8":
        index = 2
        while index + 9 < len(content):
            if content[index] != 0xFF:
                break
            marker = content[index + 1]
            length = int.from_bytes(content[index + 2 : index + 4], "big")
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height = int.from_bytes(content[index + 5 : index + 7], "big")
                width = int.from_bytes(content[index + 7 : index + 9], "big")
                return width, height
            index += 2 + length
    return 800, 600

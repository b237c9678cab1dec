"""Validate Bot API requests against the official machine-readable spec (api.json).

Everything structural (method names, required/unknown fields, value types, union subtypes,
length limits such as "1-4096 characters", array sizes such as "2-10 items", enumerations such
as 'must be one of "a", "b"', "exactly one of the fields ...") is derived from the field and
type descriptions in api.json. Only a few rules that the spec states nowhere in a parsable form
are hand-written (see ``_EXTRA_*``).

Lengths of texts that Telegram parses for entities (``text``, ``caption``, ...) are measured
after parsing and trimming, in UTF-16 code units, which is the unit Telegram uses for entity
offsets. For BMP text this equals the number of characters; for astral characters (most emoji)
it is stricter than counting code points, so a text accepted here is accepted by Telegram
whichever of the two Telegram applies.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SPEC_ENV = "BOT_API_SPEC"
PARSE_MODES = ("HTML", "MarkdownV2", "Markdown")

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_INT_RE = re.compile(r"-?\d+")
_FLOAT_RE = re.compile(r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_USERNAME_RE = re.compile(r"@[A-Za-z]\w{2,31}")
_LANGUAGE_RE = re.compile(r"[a-z]{2}")
_BOT_COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
# Telegram trims these around parsed texts before it checks emptiness and length.
_TRIMMED = " \t\n\r\v\f"

# Limits Telegram enforces that api.json only mentions in prose (or not at all).
_EXTRA_ARRAY_LIMITS: dict[tuple[str, str], tuple[int, int]] = {
    # "No more than 50 results per query are allowed." (method description, not the field)
    ("answerInlineQuery", "results"): (0, 50),
}
_EXTRA_PATTERNS: dict[tuple[str, str], tuple[re.Pattern[str], str]] = {
    # "Can contain only lowercase English letters, digits and underscores."
    ("BotCommand", "command"): (_BOT_COMMAND_RE, "BOT_COMMAND_INVALID"),
}


def default_spec_path() -> Path:
    """``$BOT_API_SPEC`` or ``<repo>/../shared/telegram-bot-api/api.json``."""
    env = os.environ.get(SPEC_ENV)
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return repo.parent / "shared" / "telegram-bot-api" / "api.json"


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# ---------------------------------------------------------------------------------------------
# Entity parsing (HTML, MarkdownV2, Markdown), modelled on what TDLib accepts.


class EntityParseError(ValueError):
    """Telegram answers "Bad Request: can't parse entities: <message>"."""


class _TextBuilder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0  # UTF-16 code units, the unit of MessageEntity.offset
        self.entities: list[dict[str, Any]] = []

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.offset += utf16_len(chunk)

    def entity(self, type_: str, start: int, **extra: Any) -> None:
        # Telegram silently drops empty entities rather than failing the request.
        if self.offset > start:
            self.entities.append(
                {"type": type_, "offset": start, "length": self.offset - start, **extra}
            )

    def result(self) -> tuple[str, list[dict[str, Any]]]:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), entities


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


_HTML_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span",
        "tg-spoiler", "tg-emoji", "tg-time", "code", "pre", "blockquote",
    }
)  # fmt: skip
_HTML_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
}
_HTML_ENTITY_RE = re.compile(r"&(?:#(\d{1,8})|#[xX]([0-9a-fA-F]{1,8})|(lt|gt|amp|quot));")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_TEXT_RUN = re.compile(r"[^&<]+")


def _decode_html_entity(match: re.Match[str]) -> str | None:
    if match.group(3):
        return _HTML_NAMED[match.group(3)]
    code = int(match.group(1)) if match.group(1) else int(match.group(2), 16)
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code)


def _decode_html_entities(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        decoded = _decode_html_entity(m)
        return m.group(0) if decoded is None else decoded

    return _HTML_ENTITY_RE.sub(repl, text)


def _parse_html_attributes(
    text: str, pos: int, tag: str, tag_at: int
) -> tuple[dict[str, str], int]:
    """Parse ``name="v" name='v' name=v name`` up to ``>``; return attributes and its index."""
    attrs: dict[str, str] = {}
    n = len(text)

    def skip_spaces(k: int) -> int:
        while k < n and text[k].isspace():
            k += 1
        return k

    while True:
        pos = skip_spaces(pos)
        if pos >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {tag_at}")
        if text[pos] == ">":
            return attrs, pos
        end = pos
        while end < n and not text[end].isspace() and text[end] not in "=>":
            end += 1
        name = text[pos:end].lower()
        if not name:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset {tag_at}'
            )
        pos = skip_spaces(end)
        value = ""
        if pos < n and text[pos] == "=":
            pos = skip_spaces(pos + 1)
            if pos >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {tag_at}")
            if text[pos] in "\"'":
                close = text.find(text[pos], pos + 1)
                if close == -1:
                    raise EntityParseError(f"Unclosed start tag at byte offset {tag_at}")
                value = _decode_html_entities(text[pos + 1 : close])
                pos = close + 1
            else:
                end = pos
                while end < n and not text[end].isspace() and text[end] != ">":
                    end += 1
                value = text[pos:end]
                pos = end
        attrs[name] = value


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities of a ``parse_mode=HTML`` text, or EntityParseError."""
    out = _TextBuilder()
    # (tag, start offset, attributes, byte offset of the tag)
    stack: list[tuple[str, int, dict[str, str], int]] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "&":
            match = _HTML_ENTITY_RE.match(text, i)
            decoded = _decode_html_entity(match) if match else None
            if match and decoded is not None:
                out.add(decoded)
                i = match.end()
            else:
                # TDLib keeps an unknown or bare "&" as a literal instead of failing.
                out.add("&")
                i += 1
            continue
        if char != "<":
            run = _HTML_TEXT_RUN.match(text, i)
            assert run is not None
            out.add(run.group(0))
            i = run.end()
            continue
        tag_at = _byte_offset(text, i)
        if text.startswith("</", i):
            close = text.find(">", i + 2)
            if close == -1:
                raise EntityParseError(f"Unclosed end tag at byte offset {tag_at}")
            name = text[i + 2 : close].strip().lower()
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {tag_at}")
            tag, start, attrs, _ = stack.pop()
            if name and name != tag:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {tag_at}, expected "</{tag}>", '
                    f'found "</{name}>"'
                )
            _close_html_tag(out, stack, tag, start, attrs)
            i = close + 1
            continue
        end = i + 1
        while end < n and not text[end].isspace() and text[end] != ">":
            end += 1
        tag = text[i + 1 : end].lower()
        if tag not in _HTML_TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {tag_at}')
        attrs, close = _parse_html_attributes(text, end, tag, tag_at)
        if tag == "span" and attrs.get("class") != "tg-spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {tag_at}'
            )
        if tag == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise EntityParseError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {tag_at}'
            )
        if tag == "tg-time" and not _INT_RE.fullmatch(attrs.get("unix", "")):
            raise EntityParseError(
                f'Tag "tg-time" must have attribute "unix" at byte offset {tag_at}'
            )
        stack.append((tag, out.offset, attrs, tag_at))
        i = close + 1
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _close_html_tag(
    out: _TextBuilder,
    stack: list[tuple[str, int, dict[str, str], int]],
    tag: str,
    start: int,
    attrs: dict[str, str],
) -> None:
    if tag in _HTML_SIMPLE:
        out.entity(_HTML_SIMPLE[tag], start)
    elif tag == "a":
        # Without href TDLib keeps the text and creates no link.
        if attrs.get("href"):
            out.entity("text_link", start, url=attrs["href"])
    elif tag == "code":
        language = attrs.get("class", "")
        parent = stack[-1] if stack else None
        if parent and parent[0] == "pre" and parent[1] == start:
            # <pre><code class="language-x"> is one pre entity with a language.
            if language.startswith("language-"):
                parent[2]["__language"] = language.removeprefix("language-")
        else:
            out.entity("code", start)
    elif tag == "pre":
        if attrs.get("__language"):
            out.entity("pre", start, language=attrs["__language"])
        else:
            out.entity("pre", start)
    elif tag == "blockquote":
        out.entity("expandable_blockquote" if "expandable" in attrs else "blockquote", start)
    elif tag == "tg-emoji":
        out.entity("custom_emoji", start, custom_emoji_id=attrs["emoji-id"])
    elif tag == "tg-time":
        extra: dict[str, Any] = {"unix_time": int(attrs["unix"])}
        if attrs.get("format"):
            extra["date_time_format"] = attrs["format"]
        out.entity("date_time", start, **extra)


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}
_CUSTOM_EMOJI_URL = re.compile(r"tg://emoji\?id=(\d+)")


def parse_markdown_v2(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities of a ``parse_mode=MarkdownV2`` text, or EntityParseError."""
    out = _TextBuilder()
    # (entity kind, start offset, byte offset of the opening marker, pre language)
    stack: list[tuple[str, int, int, str]] = []
    quote_start: int | None = None
    quote_end = 0
    quote_expandable = False
    i, n = 0, len(text)
    line_start = True

    def close_quote() -> None:
        nonlocal quote_start, quote_expandable
        if quote_start is not None and quote_end > quote_start:
            kind = "expandable_blockquote" if quote_expandable else "blockquote"
            out.entities.append(
                {"type": kind, "offset": quote_start, "length": quote_end - quote_start}
            )
        quote_start, quote_expandable = None, False

    while i < n:
        char = text[i]
        top = stack[-1][0] if stack else None
        if line_start and top not in ("code", "pre"):
            line_start = False
            marker = 3 if text.startswith("**>", i) else 1 if char == ">" else 0
            if marker:
                if quote_start is None:
                    quote_start = out.offset
                quote_expandable = quote_expandable or marker == 3
                i += marker
                continue
            close_quote()
        if char == "\\" and i + 1 < n and 0 < ord(text[i + 1]) <= 126:
            out.add(text[i + 1])
            i += 2
            continue
        if char == "\n":
            if quote_start is not None and top not in ("code", "pre"):
                quote_end = out.offset
            out.add(char)
            line_start = True
            i += 1
            continue
        if top in ("code", "pre"):
            if char == "`" and (top == "code" or text.startswith("```", i)):
                kind, start, _, language = stack.pop()
                if language:
                    out.entity(kind, start, language=language)
                else:
                    out.entity(kind, start)
                i += 1 if kind == "code" else 3
            else:
                out.add(char)
                i += 1
            continue
        if char not in _MDV2_RESERVED:
            out.add(char)
            i += 1
            continue
        at = _byte_offset(text, i)
        if char in "*~":
            kind = "bold" if char == "*" else "strikethrough"
            if top == kind:
                out.entity(kind, stack.pop()[1])
            else:
                stack.append((kind, out.offset, at, ""))
            i += 1
        elif char == "_":
            if top == "underline" and text.startswith("__", i):
                out.entity("underline", stack.pop()[1])
                i += 2
            elif top == "italic":
                out.entity("italic", stack.pop()[1])
                i += 1
            elif text.startswith("__", i):
                stack.append(("underline", out.offset, at, ""))
                i += 2
            else:
                stack.append(("italic", out.offset, at, ""))
                i += 1
        elif char == "|" and text.startswith("||", i):
            if top == "spoiler":
                out.entity("spoiler", stack.pop()[1])
            elif quote_start is not None and quote_expandable and text[i + 2 : i + 3] in ("", "\n"):
                pass  # the "||" that ends an expandable block quotation
            else:
                stack.append(("spoiler", out.offset, at, ""))
            i += 2
        elif char == "`":
            if text.startswith("```", i):
                i += 3
                newline = text.find("\n", i)
                language = text[i:newline] if newline != -1 else ""
                if language and re.fullmatch(r"[^\s`]+", language):
                    i = newline + 1
                else:
                    language = ""
                stack.append(("pre", out.offset, at, language))
            else:
                stack.append(("code", out.offset, at, ""))
                i += 1
        elif char == "[":
            stack.append(("text_link", out.offset, at, ""))
            i += 1
        elif char == "!" and text.startswith("![", i):
            stack.append(("custom_emoji", out.offset, at, ""))
            i += 2
        elif char == "]" and top in ("text_link", "custom_emoji"):
            kind, start, _, _ = stack.pop()
            i += 1
            url = ""
            if i < n and text[i] == "(":
                chars: list[str] = []
                j = i + 1
                while j < n and text[j] != ")":
                    if text[j] == "\\" and j + 1 < n:
                        chars.append(text[j + 1])
                        j += 2
                    else:
                        chars.append(text[j])
                        j += 1
                if j >= n:
                    raise EntityParseError(f"Can't find end of a URL at byte offset {at}")
                url = "".join(chars)
                i = j + 1
            if kind == "custom_emoji":
                emoji = _CUSTOM_EMOJI_URL.fullmatch(url)
                if not emoji:
                    raise EntityParseError(
                        f"Custom emoji entity must contain a tg://emoji URL at byte offset {at}"
                    )
                out.entity(kind, start, custom_emoji_id=emoji.group(1))
            elif url:
                out.entity(kind, start, url=url)
        else:
            raise EntityParseError(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
    if quote_start is not None:
        quote_end = out.offset
    close_quote()
    if stack:
        kind, _, at, _ = stack[-1]
        raise EntityParseError(f"Can't find end of {_MDV2_NAMES[kind]} entity at byte offset {at}")
    return out.result()


_MD_KINDS = {"*": "bold", "_": "italic", "`": "code"}


def parse_markdown(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities of a legacy ``parse_mode=Markdown`` text (no nesting)."""
    out = _TextBuilder()
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if char not in "_*`[":
            out.add(char)
            i += 1
            continue
        at = _byte_offset(text, i)
        unclosed = EntityParseError(f"Can't find end of the entity starting at byte offset {at}")
        start = out.offset
        if char == "[":
            close = text.find("]", i + 1)
            if close == -1:
                raise unclosed
            out.add(text[i + 1 : close])
            i = close + 1
            if i < n and text[i] == "(":
                url_end = text.find(")", i)
                if url_end == -1:
                    raise unclosed
                if url_end > i + 1:
                    out.entity("text_link", start, url=text[i + 1 : url_end])
                i = url_end + 1
            continue
        if text.startswith("```", i):
            close = text.find("```", i + 3)
            if close == -1:
                raise unclosed
            body = text[i + 3 : close]
            first, sep, rest = body.partition("\n")
            if sep and first and re.fullmatch(r"\S+", first):
                out.add(rest)
                out.entity("pre", start, language=first)
            else:
                out.add(body)
                out.entity("pre", start)
            i = close + 3
            continue
        close = text.find(char, i + 1)
        if close == -1:
            raise unclosed
        out.add(text[i + 1 : close])
        out.entity(_MD_KINDS[char], start)
        i = close + 1
    return out.result()


def parse_entities(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """What Telegram stores for ``text`` sent with ``parse_mode``: trimmed text and entities.

    Raises EntityParseError for texts Telegram rejects, ValueError for an unknown parse_mode.
    """
    parsers: dict[str, Callable[[str], tuple[str, list[dict[str, Any]]]]] = {
        "HTML": parse_html,
        "MarkdownV2": parse_markdown_v2,
        "Markdown": parse_markdown,
    }
    entities: list[dict[str, Any]] = []
    if parse_mode is None:
        plain = text
    elif parse_mode in parsers:
        plain, entities = parsers[parse_mode](text)
    else:
        raise ValueError(f"unsupported parse_mode {parse_mode!r}")
    return _trim(plain, entities)


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    stripped = text.strip(_TRIMMED)
    if stripped == text:
        return text, entities
    shift = utf16_len(text) - utf16_len(text.lstrip(_TRIMMED))
    total = utf16_len(stripped)
    kept: list[dict[str, Any]] = []
    for entity in entities:
        begin = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > begin:
            kept.append({**entity, "offset": begin, "length": end - begin})
    return stripped, kept


# ---------------------------------------------------------------------------------------------
# The spec model.


@dataclass(frozen=True)
class Violation:
    path: str  # e.g. "sendMessage.reply_markup.inline_keyboard[0][1].callback_data"
    message: str
    # Description Telegram would answer with, without the "Bad Request: " prefix.
    telegram: str
    # Real Telegram accepts the request anyway (e.g. it ignores unknown fields).
    tolerated: bool = False

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool
    description: str
    length: tuple[int, int, str] | None  # min, max, "characters" | "bytes"
    after_entities: bool
    items: tuple[int, int] | None
    enum: frozenset[str] | None
    required_unless: tuple[str, ...]
    username_allowed: bool
    language_code: bool

    @property
    def is_string(self) -> bool:
        return "String" in self.types


@dataclass(frozen=True)
class Choice:
    exactly: bool
    among: frozenset[str]
    sentence: str


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    fields: Mapping[str, FieldSpec]
    subtypes: tuple[str, ...]
    accepts_string: bool
    choice: Choice | None
    discriminator: tuple[str, str] | None
    has_fields: bool


_LENGTH_RE = re.compile(r"\b(\d+)-(\d+) (characters|bytes)\b", re.IGNORECASE)
_UP_TO_LENGTH_RE = re.compile(
    r"\b(?:up to|can't exceed|not exceed) (\d+) (characters|bytes)\b", re.IGNORECASE
)
_ITEMS_RES = (
    re.compile(r"\b(?:list|array) of (\d+)-(\d+)\b", re.IGNORECASE),
    re.compile(r"\bmust include (\d+)-(\d+) items\b", re.IGNORECASE),
)
_ITEMS_MAX_RES = (
    re.compile(r"\bup to (\d+) items\b", re.IGNORECASE),
    re.compile(r"\blist of up to (\d+)\b", re.IGNORECASE),
    re.compile(r"\bAt most (\d+) [\w ]+? can be specified\b"),
)
_ENUM_TRIGGER = re.compile(
    r"(?:must be (?:one of|either)|can be (?:either|one of)|currently,? (?:it )?can be"
    r'|(?:currently,? |^|[.,] )(?:must be )?one of)\s*"',
    re.IGNORECASE,
)
_REQUIRED_UNLESS_RE = re.compile(
    r"required if (\w+)(?: and (\w+))? (?:is|are) not specified"
    r"|required if (\w+) isn't specified",
    re.IGNORECASE,
)
_DISCRIMINATOR_RE = re.compile(r'(?:must be|always) "?([A-Za-z0-9_]+)"?')
_CHOICE_RE = re.compile(r"\b(exactly|at most) one of the\b[^.]*", re.IGNORECASE)


def _parse_enum(description: str) -> frozenset[str] | None:
    trigger = _ENUM_TRIGGER.search(description)
    if not trigger:
        return None
    rest = description[trigger.end() - 1 :].split("Defaults to", maxsplit=1)[0]
    values = re.findall(r'"([^"]+)"', rest)
    return frozenset(values) or None


def _parse_field(raw: Mapping[str, Any]) -> FieldSpec:
    description: str = raw.get("description", "")
    types = tuple(raw["types"])
    length: tuple[int, int, str] | None = None
    if "String" in types:
        if m := _LENGTH_RE.search(description):
            length = (int(m.group(1)), int(m.group(2)), m.group(3).lower())
        elif m := _UP_TO_LENGTH_RE.search(description):
            length = (0, int(m.group(1)), m.group(2).lower())
    items: tuple[int, int] | None = None
    if all(t.startswith("Array of ") for t in types):
        for pattern in _ITEMS_RES:
            if m := pattern.search(description):
                items = (int(m.group(1)), int(m.group(2)))
                break
        else:
            for pattern in _ITEMS_MAX_RES:
                if m := pattern.search(description):
                    items = (0, int(m.group(1)))
                    break
    unless: tuple[str, ...] = ()
    if m := _REQUIRED_UNLESS_RE.search(description):
        unless = tuple(g for g in m.groups() if g)
    return FieldSpec(
        name=raw["name"],
        types=types,
        required=bool(raw.get("required")),
        description=description,
        length=length,
        after_entities="after entit" in description,
        items=items,
        enum=_parse_enum(description) if types == ("String",) else None,
        required_unless=unless,
        username_allowed="Integer" in types and "String" in types and "@" in description,
        language_code="ISO 639-1 language code" in description,
    )


def _parse_choice(sentences: Sequence[str], fields: Mapping[str, FieldSpec]) -> Choice | None:
    for sentence in sentences:
        m = _CHOICE_RE.search(sentence)
        if not m:
            continue
        phrase = m.group(0)
        words = set(re.findall(r"\w+", phrase))
        if "other than" in phrase:
            among = {name for name in fields if name not in words}
        elif "optional fields" in phrase:
            among = {name for name, f in fields.items() if not f.required}
        else:
            among = {name for name in fields if name in words}
        if len(among) >= 2:
            return Choice(m.group(1).lower() == "exactly", frozenset(among), phrase.strip())
    return None


def _parse_object(raw: Mapping[str, Any]) -> ObjectSpec:
    fields = {f["name"]: _parse_field(f) for f in raw.get("fields", [])}
    description = list(raw.get("description", []))
    discriminator: tuple[str, str] | None = None
    first = next(iter(fields.values()), None)
    tag_field = first and first.name in ("type", "status", "source") and first.types == ("String",)
    if tag_field and first and (m := _DISCRIMINATOR_RE.search(first.description)):
        discriminator = (first.name, m.group(1))
    return ObjectSpec(
        name=raw["name"],
        fields=fields,
        subtypes=tuple(raw.get("subtypes", [])),
        accepts_string=any("String can be used instead of this object" in d for d in description),
        choice=_parse_choice(description, fields),
        discriminator=discriminator,
        has_fields="fields" in raw,
    )


@dataclass(frozen=True)
class MethodSpec:
    name: str
    fields: Mapping[str, FieldSpec]
    returns: tuple[str, ...]


_PRIMITIVES = frozenset({"Integer", "Float", "Boolean", "String", "InputFile", "True"})


class _Context:
    """Per-request state: uploaded parts and which of them JSON values referenced."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        self.files = files
        self.referenced: set[str] = set()
        self.violations: list[Violation] = []

    def add(
        self, path: str, message: str, telegram: str | None = None, *, tolerated: bool = False
    ) -> None:
        self.violations.append(
            Violation(path, message, telegram or f"{path}: {message}", tolerated)
        )


class SpecChecker:
    """Checks Bot API requests (as aiogram and other clients send them) against api.json."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        self.version: str = str(spec.get("version", ""))
        self.methods: dict[str, MethodSpec] = {
            name: MethodSpec(
                name=name,
                fields={f["name"]: _parse_field(f) for f in raw.get("fields", [])},
                returns=tuple(raw.get("returns", [])),
            )
            for name, raw in spec["methods"].items()
        }
        self.types: dict[str, ObjectSpec] = {
            name: _parse_object(raw) for name, raw in spec["types"].items()
        }
        self._methods_lower = {name.lower(): name for name in self.methods}

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> SpecChecker:
        """The checker for ``path`` (default: :func:`default_spec_path`), parsed once per path."""
        return _load_cached(str(Path(path) if path is not None else default_spec_path()))

    # -- public API ---------------------------------------------------------------------------

    def canonical_method(self, method: str) -> str | None:
        """The spec's spelling of ``method`` (Telegram matches names case-insensitively)."""
        return self._methods_lower.get(method.lower())

    def check(
        self,
        method: str,
        params: Mapping[str, object],
        files: Mapping[str, bytes] | None = None,
    ) -> list[str]:
        """Human-readable violations of one request; empty when it is valid."""
        return [str(v) for v in self.check_detailed(method, params, files)]

    def check_detailed(
        self,
        method: str,
        params: Mapping[str, object],
        files: Mapping[str, bytes] | None = None,
    ) -> list[Violation]:
        """Like :meth:`check`, with the answer Telegram would give for each violation.

        ``params`` are the non-file fields: strings as sent in a form/query (objects and arrays
        JSON-encoded), or already-decoded JSON values when the body was ``application/json``.
        ``files`` are the uploaded parts by part name.
        """
        ctx = _Context(files or {})
        canonical = self.canonical_method(method)
        if canonical is None:
            ctx.add(method, "unknown Bot API method", "Not Found")
            return ctx.violations
        if canonical != method:
            ctx.add(
                method,
                f"method name differs from the spec's {canonical!r} (Telegram tolerates it)",
                tolerated=True,
            )
        spec = self.methods[canonical]
        present = {k for k, v in params.items() if v is not None}
        for name in sorted(ctx.files.keys() & spec.fields.keys()):
            field = spec.fields[name]
            if "InputFile" in field.types:
                ctx.referenced.add(name)
                present.add(name)
            # A file part named like a non-file field is reported below as the field's value.
        self._check_fields(spec.fields, params, present, canonical, ctx, top=True, owner=canonical)
        for part in sorted(ctx.files.keys() - ctx.referenced):
            if part in spec.fields and "InputFile" not in spec.fields[part].types:
                ctx.add(
                    f"{canonical}.{part}", "a file was uploaded for a field that is not InputFile"
                )
            else:
                ctx.add(
                    canonical,
                    f"uploaded part {part!r} is neither a field nor referenced by attach://",
                    tolerated=True,
                )
        return ctx.violations

    def check_object(self, type_expr: str, value: Any, path: str = "") -> list[str]:
        """Violations of a decoded JSON value (e.g. an Update or a result) against a type."""
        ctx = _Context({})
        self._check_value((type_expr,), value, path or type_expr, ctx, top=False)
        return [str(v) for v in ctx.violations]

    def example(self, type_expr: str, _depth: int = 0) -> Any:
        """A minimal valid value of ``type_expr``: required fields only, first enum values."""
        if type_expr.startswith("Array of "):
            return []
        primitives: dict[str, Any] = {"Integer": 0, "Float": 0.0, "Boolean": True, "True": True}
        primitives |= {"String": "", "InputFile": ""}
        if type_expr in primitives:
            return primitives[type_expr]
        spec = self.types[type_expr]
        if spec.subtypes:
            member = next((s for s in spec.subtypes if s in self.types), spec.subtypes[0])
            return self.example(member, _depth + 1)
        obj: dict[str, Any] = {}
        for field in spec.fields.values():
            if not field.required or _depth > 8:
                continue
            if spec.discriminator and spec.discriminator[0] == field.name:
                obj[field.name] = spec.discriminator[1]
            elif field.enum:
                obj[field.name] = sorted(field.enum)[0]
            else:
                obj[field.name] = self.example(field.types[0], _depth + 1)
        return obj

    def example_object(self, type_name: str) -> dict[str, Any]:
        """:meth:`example` of an object type, typed as a dict."""
        value = self.example(type_name)
        if not isinstance(value, dict):
            raise TypeError(f"{type_name} is not an object type")
        return value

    # -- internals ----------------------------------------------------------------------------

    def _check_fields(
        self,
        fields: Mapping[str, FieldSpec],
        values: Mapping[str, Any],
        present: set[str],
        path: str,
        ctx: _Context,
        *,
        top: bool,
        owner: str,
    ) -> None:
        for key in sorted(present - fields.keys()):
            ctx.add(f"{path}.{key}", "unknown field (Telegram ignores it)", tolerated=True)
        for name, field in fields.items():
            if name in present:
                continue
            if field.required:
                ctx.add(f"{path}.{name}", "required field is missing", _missing_description(name))
            elif field.required_unless and not any(a in present for a in field.required_unless):
                ctx.add(
                    f"{path}.{name}",
                    f"required unless {' or '.join(field.required_unless)} is given",
                    _missing_description(name),
                )
        for name, field in fields.items():
            if name not in present:
                continue
            fpath = f"{path}.{name}"
            if name not in values:
                continue  # uploaded as a file part, already accounted for
            value = values[name]
            before = len(ctx.violations)
            decoded = self._check_value(field.types, value, fpath, ctx, top=top)
            if len(ctx.violations) == before:
                self._check_constraints(owner, field, decoded, values, fields, fpath, ctx, top=top)
        if top:
            return
        choice = self.types[owner].choice if owner in self.types else None
        if choice:
            used = sorted(choice.among & present)
            if len(used) > 1 or (choice.exactly and not used):
                got = ", ".join(used) if used else "none"
                ctx.add(
                    path,
                    f"{choice.sentence!r} is violated (got: {got})",
                    f"can't parse {owner}: {'exactly' if choice.exactly else 'at most'} one of "
                    f"{', '.join(sorted(choice.among))} must be used",
                )

    def _check_value(
        self, types: Sequence[str], value: Any, path: str, ctx: _Context, *, top: bool
    ) -> Any:
        """Record violations of ``value`` against the union ``types``; return it decoded."""
        if len(types) == 1:
            return self._check_single(types[0], value, path, ctx, top=top)
        attempts: list[tuple[int, str, list[Violation], set[str], Any]] = []
        for type_expr in types:
            trial = _Context(ctx.files)
            decoded = self._check_single(type_expr, value, path, trial, top=top)
            if not trial.violations or all(v.tolerated for v in trial.violations):
                ctx.violations.extend(trial.violations)
                ctx.referenced |= trial.referenced
                return decoded
            attempts.append(
                (
                    self._mismatch(type_expr, value, top),
                    type_expr,
                    trial.violations,
                    trial.referenced,
                    decoded,
                )
            )
        attempts.sort(key=lambda a: (a[0], len(a[2])))
        best = attempts[0]
        if best[0] >= _KIND_MISMATCH:
            ctx.add(path, f"expected {' or '.join(types)}, got {_describe(value)}")
        else:
            ctx.violations.extend(best[2])
            ctx.referenced |= best[3]
        return best[4]

    def _mismatch(self, type_expr: str, value: Any, top: bool) -> int:
        """How badly ``value`` fits ``type_expr`` at first glance, to pick the error to report."""
        decoded = _maybe_json(value) if top else value
        if type_expr.startswith("Array of "):
            return 0 if isinstance(decoded, list) else _KIND_MISMATCH
        if type_expr in _PRIMITIVES:
            return 0 if _primitive_ok(type_expr, value, top) else _KIND_MISMATCH
        spec = self.types.get(type_expr)
        if spec is None or not isinstance(decoded, dict):
            return _KIND_MISMATCH
        if spec.subtypes:
            return min(self._mismatch(s, decoded, False) for s in spec.subtypes)
        keys = set(decoded)
        missing = {n for n, f in spec.fields.items() if f.required} - keys
        return len(keys - spec.fields.keys()) + len(missing)

    def _check_single(
        self, type_expr: str, value: Any, path: str, ctx: _Context, *, top: bool
    ) -> Any:
        if type_expr.startswith("Array of "):
            items = _decode_json(value, path, ctx) if top else value
            if items is _INVALID:
                return value
            if not isinstance(items, list):
                ctx.add(path, f"expected {type_expr}, got {_describe(items)}")
                return items
            inner = type_expr.removeprefix("Array of ")
            return [
                self._check_single(inner, item, f"{path}[{index}]", ctx, top=False)
                for index, item in enumerate(items)
            ]
        if type_expr in _PRIMITIVES:
            return self._check_primitive(type_expr, value, path, ctx, top=top)
        spec = self.types.get(type_expr)
        if spec is None:
            ctx.add(path, f"the spec references unknown type {type_expr!r}")
            return value
        obj = _decode_json(value, path, ctx) if top and isinstance(value, str) else value
        if obj is _INVALID:
            return value
        if isinstance(obj, str) and spec.accepts_string:
            return obj
        if spec.subtypes:
            return self._check_union_type(spec, obj, path, ctx)
        if not isinstance(obj, dict):
            ctx.add(path, f"expected {type_expr} object, got {_describe(obj)}")
            return obj
        if not spec.has_fields:
            return obj  # a placeholder type such as CallbackGame
        if spec.discriminator:
            key, expected = spec.discriminator
            if key in obj and obj[key] != expected:
                ctx.add(f"{path}.{key}", f"{obj[key]!r} must be {expected!r} for {type_expr}")
        present = {k for k, v in obj.items() if v is not None}
        for key in sorted(k for k, v in obj.items() if v is None):
            ctx.add(f"{path}.{key}", "null value (omit the field instead)", tolerated=True)
        self._check_fields(spec.fields, obj, present, path, ctx, top=False, owner=type_expr)
        return obj

    def _check_union_type(self, spec: ObjectSpec, value: Any, path: str, ctx: _Context) -> Any:
        members = [self.types.get(s) for s in spec.subtypes]
        tagged = [m for m in members if m is not None and m.discriminator]
        if isinstance(value, dict) and tagged:
            key = tagged[0].discriminator[0] if tagged[0].discriminator else ""
            if key in value:
                for member in tagged:
                    if member.discriminator == (key, value[key]):
                        return self._check_single(member.name, value, path, ctx, top=False)
                allowed = sorted(m.discriminator[1] for m in tagged if m.discriminator)
                ctx.add(
                    f"{path}.{key}",
                    f"{value[key]!r} is not a {spec.name} {key}; expected one of {allowed}",
                )
                return value
        return self._check_value(spec.subtypes, value, path, ctx, top=False)

    def _check_primitive(
        self, type_expr: str, value: Any, path: str, ctx: _Context, *, top: bool
    ) -> Any:
        if type_expr == "InputFile":
            if isinstance(value, str) and value.startswith("attach://"):
                return self._check_attach(value, path, ctx)
            ctx.add(path, f"expected an uploaded file, got {_describe(value)}")
            return value
        if not _primitive_ok(type_expr, value, top):
            expected = {"Integer": "an Integer", "Float": "a Float", "Boolean": "a Boolean"}
            hint = ' ("true" or "false")' if type_expr == "Boolean" and top else ""
            ctx.add(
                path,
                f"expected {expected.get(type_expr, type_expr)}{hint}, got {_describe(value)}",
            )
            return value
        if isinstance(value, str):
            if type_expr == "Integer":
                return int(value)
            if type_expr == "Float":
                return float(value)
            if type_expr in ("Boolean", "True"):
                return value == "true"
            if value.startswith("attach://"):
                self._check_attach(value, path, ctx)
        return value

    def _check_attach(self, value: str, path: str, ctx: _Context) -> str:
        part = value.removeprefix("attach://")
        if part in ctx.files:
            ctx.referenced.add(part)
        else:
            ctx.add(
                path,
                f"{value} references no uploaded part",
                "wrong file identifier/HTTP URL specified",
            )
        return value

    def _check_constraints(
        self,
        owner: str,
        field: FieldSpec,
        value: Any,
        siblings: Mapping[str, Any],
        fields: Mapping[str, FieldSpec],
        path: str,
        ctx: _Context,
        *,
        top: bool,
    ) -> None:
        name = field.name
        if isinstance(value, list):
            limits = _EXTRA_ARRAY_LIMITS.get((owner, name)) or field.items
            if limits and not limits[0] <= len(value) <= limits[1]:
                ctx.add(
                    path,
                    f"{len(value)} items, must be {limits[0]}-{limits[1]}",
                    "RESULTS_TOO_MUCH" if owner == "answerInlineQuery" else None,
                )
            return
        if not isinstance(value, str) or not field.is_string:
            return
        if name == "parse_mode" or name.endswith("_parse_mode"):
            if value not in PARSE_MODES:
                ctx.add(
                    path,
                    f"{value!r} is not one of {', '.join(PARSE_MODES)}",
                    "unsupported parse_mode",
                )
            return
        if (
            field.username_allowed
            and not _INT_RE.fullmatch(value)
            and not _USERNAME_RE.fullmatch(value)
        ):
            ctx.add(path, f"{value!r} is neither an integer id nor an @username", "chat not found")
        if field.language_code and value and not _LANGUAGE_RE.fullmatch(value):
            ctx.add(path, f"{value!r} is not a two-letter ISO 639-1 code", "LANG_CODE_INVALID")
        if field.enum is not None and value not in field.enum:
            ctx.add(path, f"{value!r} is not one of {sorted(field.enum)}")
        if extra := _EXTRA_PATTERNS.get((owner, name)):
            pattern, telegram = extra
            if not pattern.fullmatch(value):
                ctx.add(path, f"{value!r} does not match {pattern.pattern}", telegram)
        text, parsed = value, False
        mode_field = self._parse_mode_field(field, fields)
        if mode_field:
            mode = siblings.get(mode_field)
            if isinstance(mode, str) and mode and mode not in PARSE_MODES:
                return  # already reported on the parse_mode field
            try:
                text, _ = parse_entities(value, mode if isinstance(mode, str) and mode else None)
                parsed = True
            except EntityParseError as exc:
                ctx.add(
                    path,
                    f"invalid {mode} markup: {exc}",
                    f"can't parse entities: {exc}",
                )
                return
        if field.length:
            low, high, unit = field.length
            size = len(text.encode("utf-8")) if unit == "bytes" else utf16_len(text)
            if not low <= size <= high:
                unit_name = "UTF-16 code units" if unit == "characters" else "bytes"
                after = " after entity parsing" if parsed else ""
                ctx.add(
                    path,
                    f"{size} {unit_name}{after}, must be {low}-{high} {unit}",
                    _length_description(owner, name, size, low),
                )

    @staticmethod
    def _parse_mode_field(field: FieldSpec, fields: Mapping[str, FieldSpec]) -> str | None:
        own = f"{field.name}_parse_mode"
        if own in fields:
            return own
        if "parse_mode" in fields and (
            field.name in ("text", "caption", "message_text") or field.after_entities
        ):
            return "parse_mode"
        return None


_KIND_MISMATCH = 1_000_000


class _Invalid:
    pass


_INVALID: Any = _Invalid()


def _decode_json(value: Any, path: str, ctx: _Context) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        ctx.add(path, f"not valid JSON: {value[:60]!r}", "can't parse JSON object")
        return _INVALID


def _maybe_json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _primitive_ok(type_expr: str, value: Any, top: bool) -> bool:
    """Whether ``value`` is a valid ``type_expr``: form strings at the top level, JSON inside."""
    if isinstance(value, str) and top:
        if type_expr == "Integer":
            return bool(_INT_RE.fullmatch(value)) and _INT64_MIN <= int(value) <= _INT64_MAX
        if type_expr == "Float":
            return bool(_FLOAT_RE.fullmatch(value))
        if type_expr in ("Boolean", "True"):
            return value in ("true", "false")
        return type_expr == "String"
    if type_expr == "Integer":
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and _INT64_MIN <= value <= _INT64_MAX
        )
    if type_expr == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_expr in ("Boolean", "True"):
        return isinstance(value, bool)
    if type_expr == "String":
        # A JSON request body carries top-level numbers natively; Telegram reads them as text.
        return isinstance(value, str) or (top and isinstance(value, int | float))
    return False


def _describe(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"string {shown!r}"
    if isinstance(value, bool):
        return f"boolean {value}"
    if isinstance(value, int | float):
        return f"number {value}"
    if value is None:
        return "null"
    if isinstance(value, list):
        return f"array of {len(value)}"
    if isinstance(value, dict):
        return f"object with keys {sorted(value)}"
    return type(value).__name__


def _missing_description(name: str) -> str:
    return {"text": "message text is empty"}.get(name, f"{name} is empty")


def _length_description(owner: str, name: str, size: int, low: int) -> str:
    if size < low:
        return "message text is empty" if name in ("text", "message_text") else f"{name} is empty"
    if name in ("text", "message_text"):
        return "MESSAGE_TOO_LONG" if owner == "answerCallbackQuery" else "message is too long"
    if name == "caption":
        return "message caption is too long"
    if name == "callback_data":
        return "BUTTON_DATA_INVALID"
    return f"{name} is too long"


@functools.cache
def _load_cached(path: str) -> SpecChecker:
    with open(path, encoding="utf-8") as fh:
        return SpecChecker(json.load(fh))

"""bot.aiogram_lazy: aiogram's models are built on first use, and built the same.

Each check runs in a fresh interpreter: whether aiogram was imported before `bot` decides
everything here, and this test process imported both long ago.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# Every model of aiogram.types and aiogram.methods: how many were built at import, then each
# one built (model_rebuild raises if a name does not resolve) with its fields as pydantic sees
# them, and an update parsed and a method serialized with the models built on demand.
PROBE = r"""
import json, sys, warnings
if sys.argv[1] == "lazy":
    import bot  # noqa: F401  (installs the deferral)
import aiogram.methods as M
import aiogram.types as T
from pydantic import BaseModel

built_at_import = []
fields = {}
for module in (T, M):
    for name in module.__all__:
        cls = getattr(module, name)
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            if cls.__pydantic_complete__:
                built_at_import.append(name)
update = T.Update.model_validate({
    "update_id": 1,
    "callback_query": {"id": "q", "chat_instance": "c", "data": "d",
                       "from": {"id": 5, "is_bot": False, "first_name": "A"},
                       "message": {"message_id": 1, "date": 1700000000,
                                   "chat": {"id": 5, "type": "private"}, "text": "hi",
                                   "reply_markup": {"inline_keyboard": [[
                                       {"text": "a", "callback_data": "b"}]]}}}})
markup = update.callback_query.message.reply_markup
sent = M.SendMessage(chat_id=5, text="x", reply_markup=markup).model_dump(
    exclude_none=True, warnings=False)
for module in (T, M):
    for name in module.__all__:
        cls = getattr(module, name)
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            cls.model_rebuild()
            fields[name] = {key: repr(field.annotation) + repr(field.default)
                            for key, field in cls.model_fields.items()}
date = update.callback_query.message.date.isoformat()
print(json.dumps({"built_at_import": built_at_import, "fields": fields,
                  "sent": sent["reply_markup"], "date": date}))
"""


def probe(mode: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def without_addresses(fields: dict[str, Any]) -> str:
    return re.sub(r" at 0x[0-9a-f]+", "", json.dumps(fields, sort_keys=True))


def test_models_are_built_on_first_use_and_exactly_as_aiogram_builds_them() -> None:
    lazy, eager = probe("lazy"), probe("eager")
    assert len(eager["built_at_import"]) > 500  # aiogram alone builds all of them
    assert len(lazy["built_at_import"]) < 10, lazy["built_at_import"]
    assert len(lazy["fields"]) == len(eager["fields"]) > 500
    assert without_addresses(lazy["fields"]) == without_addresses(eager["fields"])
    assert lazy["sent"] == eager["sent"] == {"inline_keyboard": [[{"text": "a",
                                                                   "callback_data": "b"}]]}
    assert lazy["date"] == eager["date"]


def test_install_does_nothing_once_aiogram_is_imported() -> None:
    code = ("import aiogram, bot.aiogram_lazy as lazy, aiogram.types as T; "
            "print(lazy.install(), T.Sticker.__pydantic_complete__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    # `import bot.aiogram_lazy` runs bot/__init__ first, after aiogram: nothing changes.
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["False", "True"]

"""Build aiogram's pydantic models when they are first used, not all at import.

`import aiogram` builds a pydantic validator and serializer for each of its ~300 types and
~170 methods, each carrying the whole tree of types below it: ~128 MiB of RSS and ~2.5 s of
start-up on our machine, before the bot does anything (a bare echo bot sits at ~170 MiB).
The bot needs a handful of them: `Update` (one validator holds every type it reaches, each
once), the methods it calls, and their answers. Built on first use, aiogram costs ~25 MiB
and starts in 0.4 s (benchmarks/bench_memory.py measures the process).

How: aiogram already declares its types `defer_build`, but `aiogram/types/__init__.py`
forces every one with `model_rebuild(_types_namespace=...)` so that the names its modules
import only for type checking resolve. While that module runs, `install()` turns those calls
into nothing and afterwards gives every `aiogram.types.*` module the names it needs, so any
model resolves its references whenever pydantic builds it. Methods and `Response` become
`defer_build` too. The behaviour of every model is pydantic's own; only the moment it is
built changes (tests/test_aiogram_lazy.py builds each of them that way).

`install()` must run before the first aiogram import (`bot/__init__.py` calls it). If aiogram
is already imported, or its modules no longer look as expected, nothing changes: the
models are then built at import as usual.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any, ClassVar

_TYPES = "aiogram.types"
_METHODS_BASE = "aiogram.methods.base"
_lock = threading.Lock()
_finder: list[_Finder] = []  # the one installed, if any


def _defer_types(module: ModuleType, run: Any) -> None:
    from pydantic import BaseModel

    original = BaseModel.__dict__["model_rebuild"]

    def deferred(cls: type[BaseModel], **kwargs: Any) -> bool | None:
        if kwargs.keys() == {"_types_namespace"} and cls.__module__.startswith(_TYPES + "."):
            return None  # built on first use, with the names given below
        return original.__func__(cls, **kwargs)  # type: ignore[no-any-return]

    BaseModel.model_rebuild = classmethod(deferred)  # type: ignore[assignment,method-assign,arg-type]
    try:
        run(module)
    finally:
        BaseModel.model_rebuild = original  # type: ignore[method-assign]
    names = {name: getattr(module, name) for name in getattr(module, "__all__", ())}
    for name, submodule in list(sys.modules.items()):
        if name.startswith(_TYPES + ".") and submodule is not None:
            for key, value in names.items():
                submodule.__dict__.setdefault(key, value)


def _defer_methods(module: ModuleType, run: Any) -> None:
    run(module)
    for name in ("TelegramMethod", "Response"):
        model = getattr(module, name, None)
        config = getattr(model, "model_config", None)
        if isinstance(config, dict):
            config["defer_build"] = True


class _Finder(importlib.abc.MetaPathFinder):
    """Wraps the loading of the two aiogram modules above; finds nothing itself."""

    hooks: ClassVar[dict[str, Any]] = {_TYPES: _defer_types, _METHODS_BASE: _defer_methods}

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        hook = self.hooks.get(fullname)
        if hook is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        loader = spec.loader if spec is not None else None
        if spec is None or not isinstance(loader, importlib.abc.Loader) \
                or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            hook(module, run)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def install() -> bool:
    """Defer aiogram's model building; False (and nothing done) once aiogram is imported."""
    with _lock:
        if _finder:
            return True
        if _TYPES in sys.modules or _METHODS_BASE in sys.modules:
            return False
        _finder.append(_Finder())
        sys.meta_path.insert(0, _finder[0])
        return True


def warm_up() -> None:
    """Build the models of every update and of the common answers now (~0.3 s), rather
    than while the first user after a start waits for a reply."""
    from aiogram.methods import (
        AnswerCallbackQuery,
        EditMessageReplyMarkup,
        EditMessageText,
        SendMessage,
    )
    from aiogram.methods.base import Response
    from aiogram.types import Message, Update

    for model in (Update, SendMessage, AnswerCallbackQuery, EditMessageText,
                  EditMessageReplyMarkup, Response[Message], Response[bool],
                  Response[Message | bool]):
        if not model.__pydantic_complete__:
            model.model_rebuild()

"""Loading the supplier catalog: the bundled file plus the operator's overrides.

The bundled ``catalog.yaml`` ships inside the package. An operator adapts it without
editing the package through a second file (the ``SUPPLIERS_FILE`` setting) of the same
shape: an entry whose ``code`` is already in the catalog replaces that supplier as a
whole, a new code is appended, and ``disabled: true`` removes a supplier.

Every mistake becomes a :class:`CatalogError` with one line naming the supplier and the
field, e.g. ``suppliers: supplier 'mrg_perm': payment.inn: INN check digits are wrong``,
so that the bot refuses to start with a message an operator can act on.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bot.suppliers.models import RULE_ERROR, Catalog

__all__ = ["BUNDLED_NAME", "CatalogError", "load_catalog"]

BUNDLED_NAME: Final = "catalog.yaml"
# Read through importlib.resources so the bundled file is found in an installed wheel too.
_PACKAGE: Final = "bot.suppliers"
_TOP_KEY: Final = "suppliers"
_DISABLED: Final = "disabled"


class CatalogError(Exception):
    """The supplier catalog cannot be used; the message is one line for the operator."""


# One supplier entry as read from YAML, before validation.
_Entry = dict[str, Any]


def load_catalog(path: Path | None = None, override: Path | None = None) -> Catalog:
    """Read the catalog from `path` (default: the bundled file) and apply `override`."""
    if path is None:
        source = f"{_PACKAGE}/{BUNDLED_NAME}"
        text = resources.files(_PACKAGE).joinpath(BUNDLED_NAME).read_text(encoding="utf-8")
    else:
        source = str(path)
        text = _read(path)
    entries = _entries(_parse(text, source), source)
    origins = dict.fromkeys(entries, source)
    if override is not None:
        _apply_override(entries, origins, override)
    enabled = [
        {key: value for key, value in entry.items() if key != _DISABLED}
        for entry in entries.values()
        if entry.get(_DISABLED) is not True
    ]
    try:
        return Catalog.model_validate({_TOP_KEY: enabled})
    except ValidationError as exc:
        codes = [str(entry["code"]) for entry in enabled]
        sources = [origins[code] for code in codes]
        # A catalog-wide problem (no supplier left) is the fault of the last file applied.
        last = str(override) if override is not None else source
        raise CatalogError(_describe(exc, codes, sources, last)) from None


def _apply_override(entries: dict[str, _Entry], origins: dict[str, str], override: Path) -> None:
    source = str(override)
    for code, entry in _entries(_parse(_read(override), source), source).items():
        if entry.get(_DISABLED) is True:
            if code not in entries:
                # Most likely a typo in the code: silently ignoring it would keep serving
                # the supplier the operator meant to switch off.
                raise CatalogError(
                    f"{_TOP_KEY}: supplier '{code}': {_DISABLED}: "
                    f"no such supplier to disable (in {source})"
                )
            del entries[code]
            del origins[code]
        else:
            # Replacing in place keeps the supplier where users are used to finding it.
            entries[code] = entry
            origins[code] = source


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the supplier catalog: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CatalogError(f"{path}: the supplier catalog is not UTF-8 text") from None


def _parse(text: str, source: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = exc.problem or exc.context or "syntax error"
        raise CatalogError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source}: YAML error: {exc}") from None


def _entries(document: object, source: str) -> dict[str, _Entry]:
    """The supplier entries of one file keyed by code, in file order; codes unique."""
    if not isinstance(document, dict) or not isinstance(document.get(_TOP_KEY), list):
        raise CatalogError(f"{source}: expected a mapping with a '{_TOP_KEY}' list")
    extra = sorted(str(key) for key in document if key != _TOP_KEY)
    if extra:
        raise CatalogError(f"{source}: unknown top-level key '{extra[0]}'")
    entries: dict[str, _Entry] = {}
    for index, entry in enumerate(document[_TOP_KEY]):
        if not isinstance(entry, dict) or not isinstance(entry.get("code"), str):
            raise CatalogError(
                f"{_TOP_KEY}: entry #{index + 1}: expected a mapping with a 'code' (in {source})"
            )
        code: str = entry["code"]
        if code in entries:
            raise CatalogError(
                f"{_TOP_KEY}: supplier '{code}': code: duplicate code in one file (in {source})"
            )
        flag = entry.get(_DISABLED, False)
        if not isinstance(flag, bool):
            raise CatalogError(
                f"{_TOP_KEY}: supplier '{code}': {_DISABLED}: must be true or false (in {source})"
            )
        entries[code] = entry
    return entries


def _describe(exc: ValidationError, codes: list[str], origins: list[str], last: str) -> str:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = list(first["loc"])
    ctx = first.get("ctx") or {}
    if first["type"] == RULE_ERROR and "field" in ctx:
        # Cross-field validators report on their model; their context names the field.
        loc.extend(_path(str(ctx["field"])))
    where = [_TOP_KEY]
    source = last
    if len(loc) >= 2 and loc[0] == _TOP_KEY and isinstance(loc[1], int):
        index = loc[1]
        where.append(f"supplier '{codes[index]}'")
        source = origins[index]
        loc = loc[2:]
    elif loc and loc[0] == _TOP_KEY:
        loc = loc[1:]
    if loc:
        where.append(".".join(str(part) for part in loc))
    more = len(errors) - 1
    tail = f"in {source}" + (f", {more} more error{'s' if more > 1 else ''}" if more else "")
    return f"{': '.join(where)}: {_message(first)} ({tail})"


def _path(dotted: str) -> list[str | int]:
    return [int(part) if part.isdigit() else part for part in dotted.split(".")]


def _message(error: ErrorDetails) -> str:
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "less_than_equal":
        return f"must be ≤ {ctx['le']}"
    if kind == "greater_than_equal":
        return f"must be ≥ {ctx['ge']}"
    if kind == "greater_than":
        return f"must be > {ctx['gt']}"
    if kind == "less_than":
        return f"must be < {ctx['lt']}"
    if kind == "string_too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        return f"must match {ctx['pattern']}"
    if kind == "enum":
        return f"must be {ctx['expected']}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind == "string_type":
        return "must be text (quote numbers such as account numbers and INNs)"
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    return error["msg"]

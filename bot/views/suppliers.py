"""Texts about a supplier shared by several conversations."""

from __future__ import annotations

from aiogram import html
from aiogram.utils.i18n import gettext as _

from bot.suppliers.models import Supplier


def contacts_line(supplier: Supplier, lang: str) -> str | None:
    """«📞 Contacts of <b>Газпром межрегионгаз Пермь</b>: +7 …, support@…» for an answer
    that sends the user to the supplier; None when the catalog knows no contact."""
    support = supplier.support
    found = [item for item in (support.phone, support.email) if item] if support else []
    if not found:
        return None
    return _("📞 Contacts of <b>{supplier}</b>: {contacts}").format(
        supplier=html.quote(supplier.display_name(lang)),
        contacts=", ".join(html.quote(item) for item in found))

"""Routers of the bot, one module per conversation or feature, each built by a function."""

from __future__ import annotations

from aiogram import Router

from handlers import accounts, common, errors, fallback, linking, registration, settings


def build_root_router() -> Router:
    """The one place that fixes router order; the first router that handles an update wins."""
    root = Router(name="root")
    root.include_routers(
        errors.build_router(),
        common.build_router(),  # /cancel and /help work in every state
        registration.build_router(),  # /start and the registration steps
        settings.build_router(),
        # accounts before linking: /accounts and «📋 My accounts» must win over the text a
        # linking step expects; accounts' rename step lets commands and menu entries through.
        accounts.build_router(),
        linking.build_router(),
        fallback.build_router(),  # catch-all: keep last
    )
    return root

"""Routers of the bot, one module per conversation or feature, each built by a function."""

from __future__ import annotations

from aiogram import Router

from bot.middlewares.step_keyboards import watch_step_keyboards
from handlers import (
    accounts,
    admin,
    balance,
    common,
    errors,
    fallback,
    groups,
    history,
    inline,
    linking,
    payments,
    readings,
    receipts,
    registration,
    reminders,
    settings,
    support,
    support_staff,
)


def build_root_router() -> Router:
    """The one place that fixes router order; the first router that handles an update wins."""
    root = Router(name="root")
    root.include_routers(
        errors.build_router(),
        common.build_router(),  # /cancel and /help work in every state
        # Group chats next, so no private-chat router ever sees them (they all filter on the
        # private chat type, and the fallback too): the support chat first — it is a group,
        # and staff replies, /close and /logs there are not group commands — then every
        # other group (commands → a deep link into the private chat, chatter → nothing).
        support_staff.build_router(),
        groups.build_router(),
        inline.build_router(),  # inline queries only: independent of the order
        # /stats before any conversation step can take it as input; for anybody but an admin
        # the router does not match, and the command ends up unknown in the fallback.
        admin.build_router(),
        registration.build_router(),  # /start and the registration steps
        settings.build_router(),
        # balance before accounts and linking: /balance and «💰 Balance» must win over the
        # text an account's rename step or a linking step expects (they leave the step).
        balance.build_router(),
        history.build_router(),  # the history buttons under a balance card
        # payments and receipts before accounts and linking, for the same reason; their
        # steps let commands and main-menu entries through.
        payments.build_router(),
        receipts.build_router(),
        # readings before accounts and linking, for the same reason: /reading and «📟 Submit
        # reading» leave their steps; its own steps let commands and menu entries through.
        readings.build_router(),
        # accounts before linking: /accounts and «📋 My accounts» must win over the text a
        # linking step expects; accounts' rename step lets commands and menu entries through.
        accounts.build_router(),
        # support before linking, for the same reason: /support and «🆘 Support» leave a
        # linking step; support's own steps let commands and menu entries through.
        support.build_router(),
        # reminders before linking, for the same reason: /reminders leaves a linking step;
        # its time step lets commands and menu entries through. It also takes the private
        # chat's my_chat_member updates (blocked/unblocked), which no other router handles.
        reminders.build_router(),
        linking.build_router(),
        fallback.build_router(),  # catch-all: keep last
    )
    # Outermost: a step's buttons go once the step is over, whichever router ends it (and
    # it sees the notices the watches below send).
    watch_step_keyboards(root)
    # Around all of them: whichever router takes the user away from a reading's values,
    # they are kept and the user is told the reading was not submitted.
    readings.watch_unsaved(root)
    # Likewise, a user taken out of linking after the number is told it was not linked.
    linking.watch_left(root)
    # And one taken out of a ticket's thread is told their messages no longer go to it.
    support.watch_left(root)
    # And one taken out of /settings' phone step gets the menu back instead of its keyboard.
    settings.watch_left(root)
    return root

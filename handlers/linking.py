"""Linking a gas account: supplier → (unit) → account number → proof of ownership → card.

Entry points: /link, the main-menu entry, the offer after registration, `/start link` and the
«Link another» button. A supplier outage never loses what the user entered: the state and its
data stay, and «Retry» (or sending the same input again) repeats the call.
"""

from __future__ import annotations

import contextlib
import math
import secrets
from decimal import Decimal
from typing import Any

from aiogram import Bot, F, Router, html
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext

from bot.billing.models import AccountInfo, AccountRef, Proof
from bot.callbacks import (
    LinkCB,
    LinkDraftCB,
    LinkPageCB,
    LinkProofCB,
    LinkRegionCB,
    LinkSupplierCB,
    LinkUnitCB,
)
from bot.db.models import User
from bot.db.models_accounts import LinkedAccount
from bot.filters import MenuEntry, feature_router, is_step_input
from bot.i18n import fmt_datetime
from bot.keyboards.accounts import linked_card_keyboard
from bot.keyboards.common import MENU_LINK, main_menu
from bot.keyboards.linking import (
    MAX_RESULTS,
    kept_keyboard,
    pages,
    proof_keyboard,
    region_suppliers_keyboard,
    regions_keyboard,
    resume_keyboard,
    retry_keyboard,
    search_prompt_keyboard,
    search_results_keyboard,
    units_keyboard,
)
from bot.middlewares.events import EventContext
from bot.middlewares.leaving import LeavingWatch
from bot.reminders.models import zone_abbr
from bot.services import Services
from bot.services.linking import (
    AccountNotFound,
    AlreadyLinked,
    InvalidAccountNumber,
    InvalidPayment,
    InvalidPin,
    InvalidSurname,
    LimitReached,
    LimitScope,
    LinkCooldown,
    SupplierLocked,
    SupplierUnavailable,
    WrongProof,
    find_units,
    normalize_pin,
    normalize_surname,
    parse_payment,
)
from bot.suppliers.accounts import AccountError, mask_account
from bot.suppliers.models import ProofKind, Supplier
from bot.views.suppliers import contacts_line
from fsm.linking import LinkData, LinkStates, draft_id, drop_kept_link, keep_link, kept_link
from handlers.account_choice import message_of
from handlers.markup import drop_markup, take_buttons_off

# Callback prefixes of this conversation: its stale buttons are answered here, with the step.
_PREFIXES = ("lk", "lks", "lkr", "lkg", "lku", "lkp", "lkd")


# --- texts ---------------------------------------------------------------------------------


def _q(text: str) -> str:
    return html.quote(text)


def _where(supplier: Supplier, unit: str | None, lang: str) -> str:
    """The supplier's name, with the management unit when it has one."""
    name = supplier.display_name(lang)
    found = supplier.unit(unit) if unit else None
    return f"{name}, {found.name.get(lang)}" if found else name


def length_rule(supplier: Supplier) -> str:
    rule = supplier.account
    if rule.digits is not None:
        return ngettext("exactly {n} digit", "exactly {n} digits", rule.digits).format(
            n=rule.digits)
    if rule.min_digits is not None and rule.max_digits is not None:
        return ngettext("from {min} to {max} digit", "from {min} to {max} digits",
                        rule.max_digits).format(min=rule.min_digits, max=rule.max_digits)
    if rule.max_digits is not None:
        return ngettext("at most {n} digit", "at most {n} digits", rule.max_digits).format(
            n=rule.max_digits)
    if rule.min_digits is not None:
        return ngettext("at least {n} digit", "at least {n} digits", rule.min_digits).format(
            n=rule.min_digits)
    return ""


def number_help(supplier: Supplier, lang: str) -> str:
    parts = [_q(supplier.account.hint.get(lang))]
    if supplier.account.format is not None:
        parts.append(_q(supplier.account.format.get(lang)))
    parts.append(_("Example: <code>{example}</code>").format(
        example=_q(supplier.account.example)))
    return "\n".join(parts)


def number_error(supplier: Supplier, error: AccountError, lang: str) -> str:
    name = _q(supplier.display_name(lang))
    if error is AccountError.EMPTY:
        text = _("I see no number in your message.")
    elif error is AccountError.NOT_DIGITS:
        text = _("An account number consists of digits only — no letters or other signs.")
    elif error is AccountError.TOO_SHORT:
        text = _("The number is too short: an account number of <b>{supplier}</b> has "
                 "{length}.").format(supplier=name, length=length_rule(supplier))
    elif error is AccountError.TOO_LONG:
        text = _("The number is too long: an account number of <b>{supplier}</b> has "
                 "{length}.").format(supplier=name, length=length_rule(supplier))
    else:
        text = _("The number does not match the account format of <b>{supplier}</b>.").format(
            supplier=name)
    return "❌ " + text + "\n\n" + number_help(supplier, lang)


def limit_text(exc: LimitReached, supplier: Supplier | None, lang: str) -> str:
    if exc.scope is LimitScope.SUPPLIER and supplier is not None:
        return ngettext(
            "<b>{supplier}</b> allows at most {limit} account per user, and you have linked "
            "that many. Unlink one in /accounts or choose another supplier.",
            "<b>{supplier}</b> allows at most {limit} accounts per user, and you have linked "
            "that many. Unlink one in /accounts or choose another supplier.",
            exc.limit,
        ).format(supplier=_q(supplier.display_name(lang)), limit=exc.limit)
    return ngettext(
        "You have linked {limit} account, the most the bot allows. Unlink it in /accounts "
        "to link another one.",
        "You have linked {limit} accounts, the most the bot allows. Unlink one of them in "
        "/accounts to link another one.",
        exc.limit,
    ).format(limit=exc.limit)


def cooldown_text(exc: LinkCooldown, supplier: Supplier, lang: str, services: Services) -> str:
    now = services.app.clock()
    minutes = max(1, math.ceil((exc.until - now).total_seconds() / 60))
    pattern = "HH:mm" if lang == "ru" else "h:mm a"
    # The supplier's time, with its zone named («15:00 (МСК+2)»): the user may be elsewhere.
    return _("⏳ Too many wrong attempts for this account. For its owner's safety, linking it "
             "is paused until {time} ({zone}), in {minutes} min.").format(
        time=fmt_datetime(exc.until, lang, pattern, tz=supplier.zone),
        zone=zone_abbr(supplier.zone.key, exc.until), minutes=minutes)


def outage_text(supplier: Supplier, lang: str) -> str:
    return _("⚠️ <b>{supplier}</b> is not responding right now. What you entered is kept: "
             "press «🔄 Retry» in a minute.").format(supplier=_q(supplier.display_name(lang)))


def payment_year(supplier: Supplier, services: Services) -> int:
    return services.app.clock().astimezone(supplier.zone).year


def account_lines(supplier: Supplier, number: str, unit: str | None, owner: str,
                  address: str, lang: str) -> str:
    lines = [f"<b>{_q(supplier.display_name(lang))}</b>"]
    found = supplier.unit(unit) if unit else None
    if found is not None:
        lines.append(_("Unit: {unit}").format(unit=_q(found.name.get(lang))))
    lines.append(_("Account: <code>{number}</code>").format(number=mask_account(number)))
    lines.append(_("Owner: {owner}").format(owner=_q(owner)))
    lines.append(_("Address: {address}").format(address=_q(address)))
    return "\n".join(lines)


def linked_text(account: LinkedAccount, supplier: Supplier, lang: str) -> str:
    text = _("✅ <b>Account linked!</b>") + "\n\n" + account_lines(
        supplier, account.number, account.unit, account.owner_masked, account.address_masked,
        lang)
    if account.is_default:
        text += "\n\n" + _("⭐ This is your default account.")
    return text


# --- asking the steps ----------------------------------------------------------------------


async def ask_supplier(message: Message) -> None:
    await message.answer(
        _("🔗 <b>Linking a gas account</b>\n\nWhich company sends you the gas bills? Type a "
          "part of its name, your city or region — for example, “Perm” — or browse the "
          "list."),
        reply_markup=search_prompt_keyboard(),
    )


def regions_text(page: int, total: int) -> str:
    return _("📖 <b>Choose your region</b> (page {page} of {pages}):").format(
        page=min(page, pages(total) - 1) + 1, pages=pages(total))


def units_text(supplier: Supplier, lang: str, page: int) -> str:
    return _("🏢 Choose the gas facilities unit (УЭГХ) that serves your address: it is named "
             "on the receipt of <b>{supplier}</b>. Or type the town it is named after, for "
             "example «Kerch».\n\nPage {page} of {pages}:").format(
        supplier=_q(supplier.display_name(lang)),
        page=min(page, pages(len(supplier.units)) - 1) + 1,
        pages=pages(len(supplier.units)))


async def ask_number(message: Message, supplier: Supplier, unit: str | None, lang: str) -> None:
    await message.answer(
        _("🔢 Send the personal account number (лицевой счёт) at <b>{where}</b>.").format(
            where=_q(_where(supplier, unit, lang)))
        + "\n\n" + number_help(supplier, lang)
    )


def proof_prompt(supplier: Supplier, kind: ProofKind, lang: str) -> str:
    if kind is ProofKind.PIN:
        assert supplier.pin is not None
        return _("🔑 Send the <b>{pin}</b> of this account.\n\n{hint}\n\n"
                 "I will delete your message with it from the chat right away.").format(
            pin=_q(supplier.pin.name.get(lang)), hint=_q(supplier.pin.hint.get(lang)))
    return _("👤 Send the surname of the account owner as on the receipt — the surname only, "
             "without first name and patronymic.")


def payment_prompt(supplier: Supplier, services: Services) -> str:
    return _("💳 Now send the amount of the last payment for this account, for example "
             "<code>1250,50</code> or <code>1250.50</code>.\nIf nothing was paid in {year}, "
             "send <code>0</code>.").format(year=payment_year(supplier, services))


async def ask_proof(message: Message, state: FSMContext, data: LinkData, supplier: Supplier,
                    lang: str, intro: str = "") -> None:
    """The proof step: the only proof the supplier accepts, or a choice between several."""
    prefix = intro + "\n\n" if intro else ""
    if len(supplier.proofs) > 1 and data.proof is None:
        await state.set_state(LinkStates.proof)
        await data.save(state)
        await message.answer(
            prefix + _("How would you like to prove that this account is yours?"),
            reply_markup=proof_keyboard(supplier, lang),
        )
        return
    kind = ProofKind(data.proof) if data.proof else supplier.proofs[0]
    data.proof = kind.value
    await state.set_state(LinkStates.pin if kind is ProofKind.PIN else LinkStates.surname)
    await data.save(state)
    await message.answer(prefix + proof_prompt(supplier, kind, lang))


def found_text(data: LinkData) -> str:
    return "\n".join((
        _("✅ Account <code>{number}</code> found.").format(
            number=mask_account(data.number or "")),
        _("Owner: {owner}").format(owner=_q(data.owner_masked or "")),
        _("Address: {address}").format(address=_q(data.address_masked or "")),
    ))


# --- the steps that call the supplier --------------------------------------------------------


def _note(ctx: EventContext | None, supplier: Supplier, number: str | None, result: str) -> None:
    """Support staff see what happened to a link attempt; the number only masked."""
    if ctx is not None:
        ctx.notes.update(supplier=supplier.code, link=result)
        if number:
            ctx.notes["account"] = mask_account(number)


async def look_up(message: Message, state: FSMContext, services: Services, user: User,
                  supplier: Supplier, data: LinkData, number: str,
                  ctx: EventContext | None) -> None:
    """Find the account at the supplier and move on to the proof; on failure stay put."""
    lang = user.language
    ref = AccountRef(supplier.code, number, data.unit)
    try:
        info = await services.linking.lookup(user.id, ref)
    except AlreadyLinked:
        _note(ctx, supplier, number, "duplicate")
        await message.answer(_("This account is already linked to you — see /accounts. Send "
                               "another number, or /cancel."))
        return
    except LinkCooldown as exc:
        _note(ctx, supplier, number, "cooldown")
        await message.answer(cooldown_text(exc, supplier, lang, services) + "\n\n"
                             + _("You can send another account number, or /cancel."))
        return
    except AccountNotFound:
        _note(ctx, supplier, number, "not_found")
        await message.answer(
            _("❌ Account <code>{number}</code> was not found at <b>{where}</b>. Check the "
              "number on the receipt and send it again.").format(
                number=_q(number), where=_q(_where(supplier, data.unit, lang)))
            + "\n\n" + number_help(supplier, lang)
        )
        return
    except SupplierUnavailable:
        _note(ctx, supplier, number, "unavailable")
        data.number = number
        await data.save(state)
        await message.answer(outage_text(supplier, lang), reply_markup=retry_keyboard())
        return
    _note(ctx, supplier, number, "found")
    data.number = number
    data.owner_masked = info.owner_masked
    data.address_masked = info.address_masked
    data.has_meters = info.has_meters
    await ask_proof(message, state, data, supplier, lang, intro=found_text(data))


async def prove(message: Message, state: FSMContext, services: Services, user: User,
                supplier: Supplier, data: LinkData, proof: Proof,
                ctx: EventContext | None) -> None:
    """Check the proof with the supplier and link the account, or say why not."""
    lang = user.language
    assert data.number is not None
    ref = AccountRef(supplier.code, data.number, data.unit)
    info = None
    if data.owner_masked is not None and data.address_masked is not None:
        info = AccountInfo(ref, data.owner_masked, data.address_masked, data.has_meters)
    try:
        account = await services.linking.link(user.id, ref, proof, info)
    except WrongProof as exc:
        _note(ctx, supplier, data.number, "wrong_proof")
        if proof.kind is ProofKind.PIN:
            assert supplier.pin is not None
            await message.answer(
                _("❌ Wrong {pin}. Attempts left: {left}. Check it and send it again.").format(
                    pin=_q(supplier.pin.name.get(lang)), left=exc.attempts_left))
            return
        data.surname = None
        data.payment = None
        await state.set_state(LinkStates.surname)
        await data.save(state)
        await message.answer(
            _("❌ The surname or the amount of the last payment does not match the supplier's "
              "records. Attempts left: {left}.\nIf you don't remember the amount, look it up "
              "in your bank app or ask the supplier.\n\nLet's try again: send the owner's "
              "surname.").format(left=exc.attempts_left))
        return
    except SupplierUnavailable:
        _note(ctx, supplier, data.number, "unavailable")
        if proof.kind is ProofKind.PIN:
            assert supplier.pin is not None
            await message.answer(
                _("⚠️ <b>{supplier}</b> is not responding right now, so I could not check the "
                  "{pin}. I don't keep it: send it again in a minute.").format(
                    supplier=_q(supplier.display_name(lang)),
                    pin=_q(supplier.pin.name.get(lang))))
            return
        data.payment = str(proof.last_payment)
        await data.save(state)
        await message.answer(outage_text(supplier, lang), reply_markup=retry_keyboard())
        return
    except LinkCooldown as exc:
        _note(ctx, supplier, data.number, "cooldown")
        if proof.kind is ProofKind.PIN:
            # Still at the PIN step: a PIN sent during the pause is deleted from the chat
            # like any other, and answered with the pause, without spending an attempt.
            await message.answer(cooldown_text(exc, supplier, lang, services) + "\n\n"
                                 + _("Send the code after that, or choose another action in "
                                     "the menu."), reply_markup=main_menu())
            return
        await state.clear()
        await message.answer(cooldown_text(exc, supplier, lang, services),
                             reply_markup=main_menu())
        return
    except SupplierLocked:
        _note(ctx, supplier, data.number, "supplier_locked")
        await state.clear()
        text = _("🔒 The supplier has blocked ownership checks for this account after too many "
                 "wrong attempts. Contact <b>{supplier}</b> to unlock it.").format(
            supplier=_q(supplier.display_name(lang)))
        contacts = contacts_line(supplier, lang)
        if contacts:
            text += "\n" + contacts
        await message.answer(text, reply_markup=main_menu())
        return
    except LimitReached as exc:
        _note(ctx, supplier, data.number, "limit")
        await state.clear()
        await message.answer(limit_text(exc, supplier, lang), reply_markup=main_menu())
        return
    except AlreadyLinked:
        _note(ctx, supplier, data.number, "duplicate")
        await state.clear()
        await message.answer(_("This account is already linked to you — see /accounts."),
                             reply_markup=main_menu())
        return
    except AccountNotFound:
        # The supplier dropped the account between the lookup and the proof (a merge).
        _note(ctx, supplier, data.number, "not_found")
        data.number = data.owner_masked = data.address_masked = data.proof = None
        await state.set_state(LinkStates.number)
        await data.save(state)
        await message.answer(
            _("❌ The supplier no longer finds this account. Check the number on the receipt "
              "and send it again.") + "\n\n" + number_help(supplier, lang))
        return
    _note(ctx, supplier, data.number, "linked")
    await state.clear()
    await message.answer(linked_text(account, supplier, lang),
                         reply_markup=linked_card_keyboard(account))


# --- entry ---------------------------------------------------------------------------------


async def start_linking(message: Message, state: FSMContext, services: Services,
                        user: User) -> None:
    """Start (or restart) the conversation; used by every entry point and by deep links."""
    await state.clear()
    try:
        await services.linking.ensure_room(user.id)
    except LimitReached as exc:
        await message.answer(limit_text(exc, None, user.language), reply_markup=main_menu())
        return
    await state.set_state(LinkStates.supplier)
    await LinkData().save(state)
    await ask_supplier(message)


async def enter_linking(message: Message, state: FSMContext, services: Services,
                        user: User) -> None:
    """An entry to linking (/link, the menu, an old «Link» button). Mid-linking, once the
    account is found, it asks before dropping it: restarting silently lost the account."""
    step = await state.get_state()
    midway = step in _TOLD_ON_LEAVING
    data: LinkData | None
    if midway:
        data, supplier = await _supplier_of(state, services)
        if data.number is not None and supplier is not None and step is not None:
            # Set aside until answered: text typed meanwhile is no answer to the step.
            await keep_link(state, data, step)
            await state.set_state(LinkStates.resume)
    else:
        data = await kept_link(state)
        supplier = services.linking.supplier(data.supplier) if data is not None else None
    if data is not None and supplier is not None and data.number is not None:
        where = _q(_where(supplier, data.unit, user.language))
        number = mask_account(data.number)
        if midway or step == LinkStates.resume.state:
            text = _("You are linking account <code>{number}</code> ({supplier}) right now. "
                     "Go on with it, or start over with another account?")
        else:
            text = _("Linking account <code>{number}</code> ({supplier}) was left unfinished. "
                     "Go on with it, or start over with another account?")
        await message.answer(text.format(number=number, supplier=where),
                             reply_markup=resume_keyboard(
                                 draft_id(data),
                                 step=await state.get_state() == LinkStates.resume.state))
        return
    await start_linking(message, state, services, user)


async def paused_linking(state: FSMContext, services: Services,
                         user: User) -> tuple[str, InlineKeyboardMarkup] | None:
    """A linking left midway, for an answer to text nobody took (a surname typed after
    leaving): what to say of it, and its «Continue» button; None when there is none."""
    kept = await kept_link(state)
    supplier = services.linking.supplier(kept.supplier) if kept is not None else None
    if kept is None or supplier is None or kept.number is None:
        return None
    text = _("Linking account <code>{number}</code> ({supplier}) is paused: to go on with it, "
             "press «▶️ Continue linking»; /cancel drops it.").format(
        number=mask_account(kept.number), supplier=_q(_where(supplier, kept.unit, user.language)))
    return text, kept_keyboard(draft_id(kept))


async def ask_again(message: Message, state: FSMContext, services: Services, user: User,
                    step: str, data: LinkData, supplier: Supplier) -> None:
    """Ask again for what `step` (one after the number) waits for."""
    if step == LinkStates.payment.state:
        await message.answer(payment_prompt(supplier, services))
    elif step == LinkStates.proof.state:
        await ask_proof(message, state, data, supplier, user.language)
    else:
        kind = ProofKind.PIN if step == LinkStates.pin.state else ProofKind.SURNAME_PAYMENT
        await message.answer(proof_prompt(supplier, kind, user.language))


async def _supplier_of(state: FSMContext, services: Services) -> tuple[LinkData, Supplier | None]:
    data = await LinkData.load(state)
    return data, services.linking.supplier(data.supplier)


async def _supplier_or_restart(message: Message, state: FSMContext, services: Services,
                               user: User) -> tuple[LinkData, Supplier] | None:
    """The step's data and supplier; None after starting over when the operator removed
    the supplier meanwhile."""
    data, supplier = await _supplier_of(state, services)
    if supplier is None:
        await start_linking(message, state, services, user)
        return None
    return data, supplier


async def _edit(message: Message, text: str, markup: InlineKeyboardMarkup | None) -> None:
    try:
        await message.edit_text(text, reply_markup=markup)
    except TelegramBadRequest as exc:
        # A double tap re-renders the same page: nothing to change, nothing to tell.
        if "message is not modified" not in str(exc):
            raise


def _ours(data: str | None) -> bool:
    return data is not None and data.split(":", 1)[0] in _PREFIXES


def step_hint(current: str | None) -> str:
    """What the conversation waits for, for a stale button's answer."""
    hints = {
        LinkStates.supplier.state: _("Now: choose the supplier."),
        LinkStates.unit.state: _("Now: choose the unit (УЭГХ)."),
        LinkStates.number.state: _("Now: send the account number."),
        LinkStates.proof.state: _("Now: choose how to prove ownership."),
        LinkStates.pin.state: _("Now: send the code from the receipt or the letter."),
        LinkStates.surname.state: _("Now: send the owner's surname."),
        LinkStates.payment.state: _("Now: send the amount of the last payment."),
        LinkStates.resume.state: _("Now: go on with the linking or start over."),
    }
    return hints.get(current or "", "")


# --- leaving midway ----------------------------------------------------------------------

# Steps after the number: leaving one of them silently, a user may think the account linked.
_TOLD_ON_LEAVING = frozenset({LinkStates.proof.state, LinkStates.pin.state,
                              LinkStates.surname.state, LinkStates.payment.state})
_OWN_BUTTONS = tuple(f"{cb.__prefix__}:" for cb in (LinkCB, LinkSupplierCB, LinkRegionCB,
                                                    LinkPageCB, LinkUnitCB, LinkProofCB,
                                                    LinkDraftCB))


def interrupted_text(supplier: Supplier, data: LinkData, lang: str) -> str:
    return _("ℹ️ Account <code>{number}</code> ({supplier}) was not linked: linking was "
             "interrupted. You can go on where you left it, now or later with /link.").format(
        number=mask_account(data.number or ""), supplier=_q(_where(supplier, data.unit, lang)))


class LinkingLeftWatch(LeavingWatch[tuple[LinkData, str]]):
    """A user whom a menu entry, a command or another feature's button takes out of linking
    after the number is told the account was not linked, and may go on where it was left
    (`keep_link`); /cancel leaves on purpose, and is not told."""

    steps = _TOLD_ON_LEAVING
    own_buttons = _OWN_BUTTONS

    async def before(self, state: FSMContext) -> tuple[LinkData, str] | None:
        form = await LinkData.load(state)
        step = await state.get_state()
        if form.number is None or form.supplier is None or step is None:
            return None
        return form, step

    async def after(self, noted: tuple[LinkData, str], state_after: str | None,
                    state: FSMContext, user: User, data: dict[str, Any]) -> None:
        form, step = noted
        services: Services = data["services"]
        supplier = services.app.catalog.get(form.supplier or "")
        if state_after in LinkStates.__all_states_names__ or supplier is None:
            return
        await keep_link(state, form, step)
        bot: Bot = data["bot"]
        await bot.send_message(state.key.chat_id, interrupted_text(supplier, form, user.language),
                               reply_markup=kept_keyboard(draft_id(form)))


def watch_left(router: Router) -> None:
    """Set `LinkingLeftWatch` on `router` (the root one)."""
    LinkingLeftWatch().watch(router)


def build_router() -> Router:
    router = feature_router(__name__)

    @router.message(Command("link"))
    @router.message(MenuEntry(MENU_LINK))
    async def link_command(message: Message, state: FSMContext, services: Services,
                           user: User) -> None:
        await enter_linking(message, state, services, user)

    @router.callback_query(LinkCB.filter(F.action == "start"))
    async def link_button(query: CallbackQuery, state: FSMContext, services: Services,
                          user: User) -> None:
        await query.answer()
        message = message_of(query)
        if message is not None:
            await enter_linking(message, state, services, user)

    @router.callback_query(LinkDraftCB.filter())
    async def resume_or_over(query: CallbackQuery, callback_data: LinkDraftCB,
                             state: FSMContext, services: Services, user: User) -> None:
        message = message_of(query)
        step = await state.get_state()
        data, supplier = await _supplier_of(state, services)
        live = step in _TOLD_ON_LEAVING and supplier is not None and data.number is not None
        kept = None
        if not live or draft_id(data) != callback_data.draft:
            # Not the linking under way: the one kept aside when linking was left, if it is.
            kept = await kept_link(state)
            if kept is None or draft_id(kept) != callback_data.draft or (
                    live and callback_data.action == "over"):
                await query.answer(_("This button is no longer active."))
                return
        await query.answer()
        if message is None or not await drop_markup(message):
            return  # a double tap: the first one has done it already
        if kept is None:
            assert step is not None and supplier is not None
            if callback_data.action == "over":
                await start_linking(message, state, services, user)
            else:
                await ask_again(message, state, services, user, step, data, supplier)
            return
        await drop_kept_link(state)
        if callback_data.action == "over":
            await start_linking(message, state, services, user)
            return
        if live and step is not None and supplier is not None:
            # Another linking was under way: it is the one kept aside now, and says so.
            await keep_link(state, data, step)
            await message.answer(interrupted_text(supplier, data, user.language),
                                 reply_markup=kept_keyboard(draft_id(data)))
        resumed = LinkData.model_validate(kept.model_dump(exclude={"step"}))
        resumed_supplier = services.linking.supplier(resumed.supplier)
        if resumed_supplier is None or resumed.number is None:
            await start_linking(message, state, services, user)
            return
        await state.set_state(kept.step)
        await resumed.save(state)
        await ask_again(message, state, services, user, kept.step, resumed, resumed_supplier)

    @router.message(StateFilter(LinkStates), F.text.startswith("/"))
    async def unknown_command(message: Message, state: FSMContext) -> None:
        # Known commands were taken by their routers: this one is a typo or unknown, not a
        # supplier to search for («/language») or an account number («/balanse»).
        command = (message.text or "/").split(maxsplit=1)[0]
        text = _("I don't know the command {command}: /help lists what I can do.").format(
            command=html.quote(command[:64]))
        hint = step_hint(await state.get_state())
        await message.answer(f"{text}\n{hint}" if hint else text)

    @router.message(LinkStates.resume, F.func(is_step_input))
    async def resume_input(message: Message, state: FSMContext, services: Services,
                           user: User) -> None:
        kept = await kept_link(state)
        supplier = services.linking.supplier(kept.supplier) if kept is not None else None
        if kept is None or supplier is None or kept.number is None:
            await start_linking(message, state, services, user)
            return
        await message.answer(
            _("First answer the question about account <code>{number}</code> ({supplier}): "
              "«▶️ Go on» with it, or «🔄 Start over» with another account.").format(
                number=mask_account(kept.number),
                supplier=_q(_where(supplier, kept.unit, user.language))),
            reply_markup=resume_keyboard(draft_id(kept), step=True))

    # --- supplier: search ---------------------------------------------------------------

    @router.message(LinkStates.supplier, F.text)
    async def supplier_query(message: Message, user: User, services: Services) -> None:
        query = (message.text or "").strip()
        lang = user.language
        found = services.linking.search(query, lang)
        shown_query = _q(query[:50])
        if not found:
            await message.answer(
                _("Nothing found for «{query}». Check the spelling, try another word (a city "
                  "or a region), or browse the list.").format(query=shown_query),
                reply_markup=search_prompt_keyboard())
            return
        if len(found) == 1:
            supplier = found[0]
            name, region = supplier.display_name(lang), supplier.region.get(lang)
            # «… Пятигорск (Республика Дагестан)», «Krymgazseti (Crimea)» name a place already.
            if region not in name and not name.endswith(")"):
                name = f"{name} ({region})"
            text = _("Found: <b>{name}</b>.\nTap it to confirm, or type another "
                     "query.").format(name=_q(name))
        else:
            text = _("Suppliers found for «{query}» — choose yours:").format(query=shown_query)
            if len(found) > MAX_RESULTS:
                text += "\n" + _("Only the first {n} are shown: type more to narrow the "
                                 "search.").format(n=MAX_RESULTS)
        await message.answer(text, reply_markup=search_results_keyboard(found, lang))

    @router.message(LinkStates.supplier)
    async def supplier_bad_input(message: Message) -> None:
        await message.answer(
            _("Type a part of the supplier's name, your city or region as text, or browse the "
              "list."),
            reply_markup=search_prompt_keyboard())

    # --- supplier: browse ---------------------------------------------------------------

    @router.callback_query(LinkStates.supplier, LinkCB.filter(F.action == "browse"))
    async def browse(query: CallbackQuery, services: Services, user: User) -> None:
        await query.answer()
        message = message_of(query)
        if message is not None:
            regions = services.linking.regions(user.language)
            await _edit(message, regions_text(0, len(regions)),
                        regions_keyboard(regions, user.language, 0))

    @router.callback_query(LinkStates.supplier, LinkCB.filter(F.action == "search"))
    async def back_to_search(query: CallbackQuery) -> None:
        await query.answer()
        message = message_of(query)
        if message is not None:
            await take_buttons_off(message)
            await ask_supplier(message)

    @router.callback_query(LinkStates.supplier, LinkPageCB.filter(F.what == "reg"))
    async def regions_page(query: CallbackQuery, callback_data: LinkPageCB, services: Services,
                           user: User) -> None:
        await query.answer()
        message = message_of(query)
        if message is not None:
            regions = services.linking.regions(user.language)
            await _edit(message, regions_text(callback_data.page, len(regions)),
                        regions_keyboard(regions, user.language, callback_data.page))

    @router.callback_query(LinkStates.supplier, LinkRegionCB.filter())
    async def region_chosen(query: CallbackQuery, callback_data: LinkRegionCB,
                            services: Services, user: User) -> None:
        group = services.linking.region(callback_data.index)
        message = message_of(query)
        if group is None or message is None:
            await query.answer(_("This button is no longer active."))
            return
        await query.answer()
        await _edit(message,
                    _("Suppliers in <b>{region}</b>:").format(
                        region=_q(group.region.get(user.language))),
                    region_suppliers_keyboard(group, user.language, callback_data.page))

    @router.callback_query(LinkStates.supplier, LinkSupplierCB.filter())
    async def supplier_chosen(query: CallbackQuery, callback_data: LinkSupplierCB,
                              state: FSMContext, services: Services, user: User) -> None:
        supplier = services.linking.supplier(callback_data.code)
        message = message_of(query)
        if supplier is None or message is None:
            await query.answer(_("This button is no longer active."))
            return
        await query.answer()
        lang = user.language
        try:
            await services.linking.ensure_room(user.id, supplier)
        except LimitReached as exc:
            if exc.scope is LimitScope.TOTAL:
                await state.clear()
                await message.answer(limit_text(exc, supplier, lang), reply_markup=main_menu())
            else:
                # Another supplier may still have room: stay at this step.
                await message.answer(limit_text(exc, supplier, lang),
                                     reply_markup=search_prompt_keyboard())
            return
        await _edit(message, _("✅ Supplier: <b>{name}</b>").format(
            name=_q(supplier.display_name(lang))), None)
        data = LinkData(draft=secrets.token_hex(4), supplier=supplier.code)
        if supplier.platform.needs_units:
            await state.set_state(LinkStates.unit)
            await data.save(state)
            await message.answer(units_text(supplier, lang, 0),
                                 reply_markup=units_keyboard(supplier, lang, 0))
            return
        await state.set_state(LinkStates.number)
        await data.save(state)
        await ask_number(message, supplier, None, lang)

    # --- unit ---------------------------------------------------------------------------

    @router.callback_query(LinkStates.unit, LinkCB.filter(F.action == "suppliers"))
    async def another_supplier(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        await state.set_state(LinkStates.supplier)
        await LinkData().save(state)
        message = message_of(query)
        if message is not None:
            await take_buttons_off(message)
            await ask_supplier(message)

    @router.callback_query(LinkStates.unit, LinkPageCB.filter(F.what == "unit"))
    async def units_page(query: CallbackQuery, callback_data: LinkPageCB, state: FSMContext,
                         services: Services, user: User) -> None:
        _data, supplier = await _supplier_of(state, services)
        message = message_of(query)
        await query.answer()
        if supplier is not None and message is not None:
            await _edit(message, units_text(supplier, user.language, callback_data.page),
                        units_keyboard(supplier, user.language, callback_data.page))

    @router.callback_query(LinkStates.unit, LinkUnitCB.filter())
    async def unit_chosen(query: CallbackQuery, callback_data: LinkUnitCB, state: FSMContext,
                          services: Services, user: User) -> None:
        data, supplier = await _supplier_of(state, services)
        message = message_of(query)
        if (supplier is None or message is None
                or not 0 <= callback_data.index < len(supplier.units)):
            await query.answer(_("This button is no longer active."))
            return
        await query.answer()
        await _edit(message, _("✅ Unit: <b>{unit}</b>").format(
            unit=_q(supplier.units[callback_data.index].name.get(user.language))), None)
        await take_unit(message, state, data, supplier, callback_data.index, user.language)

    async def take_unit(message: Message, state: FSMContext, data: LinkData,
                        supplier: Supplier, index: int, lang: str) -> None:
        unit = supplier.units[index]
        data.unit = unit.code
        await state.set_state(LinkStates.number)
        await data.save(state)
        await ask_number(message, supplier, unit.code, lang)

    @router.message(LinkStates.unit, F.text, F.func(is_step_input))
    async def unit_typed(message: Message, state: FSMContext, services: Services,
                         user: User) -> None:
        known = await _supplier_or_restart(message, state, services, user)
        if known is None:
            return
        data, supplier = known
        lang = user.language
        found = find_units(supplier, message.text or "")
        if len(found) == 1:
            await message.answer(_("✅ Unit: <b>{unit}</b>").format(
                unit=_q(supplier.units[found[0]].name.get(lang))))
            await take_unit(message, state, data, supplier, found[0], lang)
        elif found:
            await message.answer(_("Several units match — choose yours:"),
                                 reply_markup=units_keyboard(supplier, lang, 0, only=found))
        else:
            await message.answer(
                _("I found no unit by that name. Type the town or district it is named after "
                  "(for example «Kerch»), or choose it with the buttons below."),
                reply_markup=units_keyboard(supplier, lang, 0))

    @router.message(LinkStates.unit)
    async def unit_bad_input(message: Message, state: FSMContext, services: Services,
                             user: User) -> None:
        known = await _supplier_or_restart(message, state, services, user)
        if known is None:
            return
        _data, supplier = known
        await message.answer(_("Please choose your unit (УЭГХ) with the buttons below, or type "
                               "the town it is named after."),
                             reply_markup=units_keyboard(supplier, user.language, 0))

    # --- number -------------------------------------------------------------------------

    @router.message(LinkStates.number, F.text)
    async def number_sent(message: Message, state: FSMContext, services: Services, user: User,
                          event_log: EventContext | None = None) -> None:
        known = await _supplier_or_restart(message, state, services, user)
        if known is None:
            return
        data, supplier = known
        try:
            number = services.linking.check_number(supplier, message.text or "")
        except InvalidAccountNumber as exc:
            await message.answer(number_error(supplier, exc.error, user.language))
            return
        await look_up(message, state, services, user, supplier, data, number, event_log)

    @router.message(LinkStates.number)
    async def number_bad_input(message: Message, state: FSMContext, services: Services,
                               user: User) -> None:
        known = await _supplier_or_restart(message, state, services, user)
        if known is None:
            return
        _data, supplier = known
        await message.answer(_("Send the account number as text — digits only.") + "\n\n"
                             + number_help(supplier, user.language))

    # --- proof ----------------------------------------------------------------------------

    @router.callback_query(LinkStates.proof, LinkProofCB.filter())
    async def proof_chosen(query: CallbackQuery, callback_data: LinkProofCB, state: FSMContext,
                           services: Services, user: User) -> None:
        data, supplier = await _supplier_of(state, services)
        message = message_of(query)
        kind = next((k for k in ProofKind if k.value == callback_data.kind), None)
        if supplier is None or message is None or kind is None or not supplier.accepts(kind):
            await query.answer(_("This button is no longer active."))
            return
        await query.answer()
        await take_buttons_off(message)
        data.proof = kind.value
        await ask_proof(message, state, data, supplier, user.language)

    @router.message(LinkStates.proof)
    async def proof_bad_input(message: Message, state: FSMContext, services: Services,
                              user: User) -> None:
        known = await _supplier_or_restart(message, state, services, user)
        if known is None:
            return
        _data, supplier = known
        await message.answer(_("Please choose how to prove ownership with the buttons below."),
                             reply_markup=proof_keyboard(supplier, user.language))

    @router.message(LinkStates.pin, F.text)
    async def pin_sent(message: Message, state: FSMContext, services: Services, user: User,
                       event_log: EventContext | None = None) -> None:
        data, supplier = await _supplier_of(state, services)
        if supplier is None or supplier.pin is None or data.number is None:
            await start_linking(message, state, services, user)
            return
        raw = message.text or ""
        # The PIN opens the supplier's full cabinet: keep it out of the chat history.
        with contextlib.suppress(TelegramBadRequest):
            await message.delete()
        try:
            pin = normalize_pin(raw, supplier.pin)
        except InvalidPin as exc:
            name = _q(supplier.pin.name.get(user.language))
            if exc.reason == "shape" and supplier.pin.format is not None:
                await message.answer(_(
                    "This cannot be the {pin}: it is {format}. Check it on the receipt and "
                    "send it again; no attempt was spent.").format(
                        pin=name, format=_q(supplier.pin.format.get(user.language))))
            else:
                await message.answer(_("Send the {pin} as one word, without spaces; no attempt "
                                       "was spent.").format(pin=name))
            return
        await prove(message, state, services, user, supplier, data,
                    Proof(ProofKind.PIN, pin=pin), event_log)

    @router.message(LinkStates.pin)
    async def pin_bad_input(message: Message, state: FSMContext, services: Services,
                            user: User) -> None:
        _data, supplier = await _supplier_of(state, services)
        if supplier is None or supplier.pin is None:
            await start_linking(message, state, services, user)
            return
        await message.answer(_("Send the {pin} as text.").format(
            pin=_q(supplier.pin.name.get(user.language))))

    @router.message(LinkStates.surname, F.text)
    async def surname_sent(message: Message, state: FSMContext, services: Services,
                           user: User) -> None:
        data, supplier = await _supplier_of(state, services)
        if supplier is None or data.number is None:
            await start_linking(message, state, services, user)
            return
        try:
            data.surname = normalize_surname(message.text or "")
        except InvalidSurname as exc:
            if exc.reason == "full_name":
                await message.answer(_("Only the surname, please — without first name and "
                                       "patronymic."))
            elif exc.reason == "latin":
                await message.answer(_("Write the surname in Russian letters, as it is printed "
                                       "on the receipt, for example «Иванова»."))
            else:
                await message.answer(_("A surname has letters only (a hyphen is fine), for "
                                       "example «Иванова» or «Петров-Водкин»."))
            return
        await state.set_state(LinkStates.payment)
        await data.save(state)
        await message.answer(payment_prompt(supplier, services))

    @router.message(LinkStates.surname)
    async def surname_bad_input(message: Message) -> None:
        await message.answer(_("Send the owner's surname as text."))

    @router.message(LinkStates.payment, F.text)
    async def payment_sent(message: Message, state: FSMContext, services: Services, user: User,
                           event_log: EventContext | None = None) -> None:
        data, supplier = await _supplier_of(state, services)
        if supplier is None or data.number is None or data.surname is None:
            await start_linking(message, state, services, user)
            return
        try:
            amount = parse_payment(message.text or "", comma_groups=user.language == "en")
        except InvalidPayment:
            await message.answer(
                _("I can't read this amount. Send it as a number of roubles, for example "
                  "<code>1250,50</code>, or <code>0</code> if nothing was paid in {year}.")
                .format(year=payment_year(supplier, services)))
            return
        await prove(message, state, services, user, supplier, data,
                    Proof(ProofKind.SURNAME_PAYMENT, surname=data.surname, last_payment=amount),
                    event_log)

    @router.message(LinkStates.payment)
    async def payment_bad_input(message: Message, state: FSMContext, services: Services,
                                user: User) -> None:
        known = await _supplier_or_restart(message, state, services, user)
        if known is None:
            return
        _data, supplier = known
        await message.answer(
            _("Send the amount as text, for example <code>1250,50</code>, or <code>0</code> if "
              "nothing was paid in {year}.").format(year=payment_year(supplier, services)))

    # --- retry after an outage --------------------------------------------------------------

    @router.callback_query(LinkCB.filter(F.action == "retry"))
    async def retry(query: CallbackQuery, state: FSMContext, services: Services, user: User,
                    event_log: EventContext | None = None) -> None:
        data, supplier = await _supplier_of(state, services)
        message = message_of(query)
        current = await state.get_state()
        if supplier is None or message is None or data.number is None:
            await query.answer(_("This button is no longer active."))
            return
        if current == LinkStates.number.state:
            await query.answer()
            await take_buttons_off(message)
            await look_up(message, state, services, user, supplier, data, data.number,
                          event_log)
        elif current == LinkStates.payment.state and data.surname and data.payment:
            await query.answer()
            await take_buttons_off(message)
            proof = Proof(ProofKind.SURNAME_PAYMENT, surname=data.surname,
                          last_payment=Decimal(data.payment))
            await prove(message, state, services, user, supplier, data, proof, event_log)
        elif current == LinkStates.pin.state and supplier.pin is not None:
            await query.answer(_("Send the {pin} again, please.").format(
                pin=supplier.pin.name.get(user.language)), show_alert=True)
        else:
            await query.answer(_("This button is no longer active."))

    # --- this conversation's buttons, tapped at the wrong step -----------------------------

    @router.callback_query(F.data.func(_ours))
    async def stale_button(query: CallbackQuery, state: FSMContext) -> None:
        hint = step_hint(await state.get_state())
        text = _("This button is no longer active.")
        await query.answer(f"{text} {hint}" if hint else text)

    return router

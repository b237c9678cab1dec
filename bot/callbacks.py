"""Callback data of every inline button. Prefixes are short: packed data must fit 64 bytes."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageCB(CallbackData, prefix="lng"):
    code: str
    origin: str  # "reg" during registration, "set" from /settings


class ConsentCB(CallbackData, prefix="cns"):
    accept: bool


class SkipEmailCB(CallbackData, prefix="skm"):
    pass


class SettingsCB(CallbackData, prefix="set"):
    action: str  # lang | phone | email | email_clear | delete | delete_yes | delete_no


# --- linking an account (prefixes "lk…": handlers/linking.py answers its own stale ones) ---


class LinkCB(CallbackData, prefix="lk"):
    action: str  # start | browse | search | retry | suppliers (from the unit step)


class LinkSupplierCB(CallbackData, prefix="lks"):
    code: str  # supplier codes are at most 16 ASCII characters (catalog rule)


class LinkRegionCB(CallbackData, prefix="lkr"):
    index: int  # position in the catalog's regions, language-independent
    page: int  # the regions page to go back to


class LinkPageCB(CallbackData, prefix="lkg"):
    what: str  # reg (regions) | unit (management units)
    page: int


class LinkUnitCB(CallbackData, prefix="lku"):
    index: int  # position in the supplier's units: unit codes may be 24 characters long


class LinkProofCB(CallbackData, prefix="lkp"):
    kind: str  # a ProofKind value


class LinkDraftCB(CallbackData, prefix="lkd"):
    """Go on with (or drop) one linking draft: an old button cannot resume another one."""

    action: str  # resume | over
    draft: str  # LinkData.draft


# --- /accounts ---------------------------------------------------------------------------


class AccountCB(CallbackData, prefix="acc"):
    action: str  # show | list | open | rename | unalias | default | unlink | unlink_yes
    id: int = 0


# --- /balance and the histories (prefixes "b…": handlers/balance.py, handlers/history.py) ---


class BalanceCB(CallbackData, prefix="bal"):
    action: str  # new (a new card message) | open (edit into the card) | pick | all
    id: int = 0  # the linked account; 0 with pick/all


class HistoryCB(CallbackData, prefix="bh"):
    what: str  # pay | chg | det
    id: int
    edit: bool = False  # False: a new message under the card; True: replace this message


class PaymentsCB(CallbackData, prefix="bpy"):
    id: int
    year: int
    page: int = 0


class ChargesCB(CallbackData, prefix="bch"):
    id: int
    page: int = 0


# --- /pay and /receipt (prefixes "pay", "rc…": handlers/payments.py, handlers/receipts.py) --


class PayCB(CallbackData, prefix="pay"):
    action: str  # start (the amount step for account `id`; also «Retry») | due | custom
    id: int


class ReceiptCB(CallbackData, prefix="rcp"):
    action: str  # start (the periods of account `id`) | get (the PDF of `period`; also «Retry»)
    id: int
    period: str = ""  # YYYY-MM


class ReceiptPageCB(CallbackData, prefix="rcg"):
    id: int
    page: int


# --- /support (prefixes "sp…" and "sup": handlers/support.py) ------------------------------


class SupportCB(CallbackData, prefix="sup"):
    action: str  # new | list | open | reply | close
    id: int = 0  # the ticket; 0 with new/list


class SupportTopicCB(CallbackData, prefix="spt"):
    topic: str  # a TicketTopic value


class SupportAccountCB(CallbackData, prefix="spa"):
    id: int  # the linked account the ticket is about; 0: no specific account


# --- /reading (prefixes "rd…": handlers/readings.py answers its own stale ones) -------------


class ReadingCB(CallbackData, prefix="rd"):
    action: str  # acc (start at account `id`; also the account card's button) | remind
    id: int


class ReadingMeterCB(CallbackData, prefix="rdm"):
    # open (the meter screen; also «Retry») | anew (the same, typed values dropped) | hist | chart
    action: str
    id: int  # the linked account
    m: int  # the meter's position in the account's meter list: ids may be long


class ReadingStepCB(CallbackData, prefix="rds"):
    action: str  # submit | edit | cancel
    k: str = ""  # the draft's key prefix: a Submit of an older confirmation does not match


# --- /reminders and the reminders' buttons (prefixes "rm…": handlers/reminders.py) ---------


class ReminderCB(CallbackData, prefix="rm"):
    # list | open | toggle | day | setday | time | settime | pay | setpay | tz | settz
    action: str
    id: int = 0  # the linked account; 0 where none applies
    value: str = ""  # a kind, "s"/"e<n>" (readings day), "HHMM", days, a time zone index


class ReminderActionCB(CallbackData, prefix="rma"):
    action: str  # reading | pay | receipt (open that feature) | off | on (this reminder)
    kind: str  # the reminder's kind (a ReminderKind value)
    id: int  # the linked account


ALL_CALLBACKS: tuple[type[CallbackData], ...] = (
    LanguageCB, ConsentCB, SkipEmailCB, SettingsCB,
    LinkCB, LinkSupplierCB, LinkRegionCB, LinkPageCB, LinkUnitCB, LinkProofCB,
    AccountCB,
    BalanceCB, HistoryCB, PaymentsCB, ChargesCB,
    PayCB, ReceiptCB, ReceiptPageCB,
    SupportCB, SupportTopicCB, SupportAccountCB,
    ReadingCB, ReadingMeterCB, ReadingStepCB,
    ReminderCB, ReminderActionCB,
)

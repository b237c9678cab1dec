"""The label texts of the payment document, in every language it is printed in.

The receipt is a document rather than a chat message: its texts live here, complete for
each language (a test checks that), instead of in the bot's gettext catalogs, so that a
missing translation can never put a half-Russian, half-English page in front of a user.
Placeholders are `str.format` fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from bot.billing.service_names import known_service

__all__ = [
    "DEFAULT_LANGUAGE",
    "RECEIPT_LABELS",
    "receipt_labels",
    "resolve_language",
    "service_label",
]

DEFAULT_LANGUAGE: Final = "ru"

_RU: Final[dict[str, str]] = {
    "title": "ПЛАТЁЖНЫЙ ДОКУМЕНТ (КВИТАНЦИЯ)",
    "subtitle": "на оплату газоснабжения",
    "for_period": "за {period}",
    "account_number": "Лицевой счёт",
    "management_unit": "УЭГХ",
    "demo_banner": "ДЕМО-реквизиты, не для оплаты",
    "demo_note": (
        "Банковские реквизиты получателя созданы для демонстрации и не принадлежат "
        "поставщику. Не переводите деньги по этому документу."
    ),
    "payee": "Получатель платежа",
    "inn_kpp": "ИНН / КПП",
    "bank": "Банк",
    "bic": "БИК",
    "settlement_account": "Расчётный счёт",
    "correspondent_account": "Корр. счёт",
    "phone": "Телефон",
    "email": "Эл. почта",
    "payer": "Плательщик",
    "payer_name": "ФИО",
    "address": "Адрес",
    "period": "Расчётный период",
    "residents": "Проживает",
    "residents_value": "{count} чел.",
    "heated_area": "Отапливаемая площадь",
    "area_value": "{area} м²",
    "not_known": "—",
    "summary": "Расчёт за период",
    "opening_debt": "Долг на начало периода",
    "opening_overpayment": "Переплата на начало периода",
    "charged": "Начислено",
    "recalculation": "Перерасчёт",
    "paid": "Оплачено",
    "closing_debt": "Долг на конец периода",
    "closing_overpayment": "Переплата на конец периода",
    "charges": "Начисления за период",
    "col_service": "Услуга",
    "col_volume": "Объём",
    "col_unit": "Ед. изм.",
    "col_tariff": "Тариф, ₽",
    "col_charged": "Начислено, ₽",
    "col_recalculation": "Перерасчёт, ₽",
    "col_total": "Итого, ₽",
    "total": "Итого",
    "no_charges": "Начислений за период нет.",
    "payments": "Оплаты, поступившие в периоде",
    "col_date": "Дата",
    "col_amount": "Сумма, ₽",
    "col_channel": "Способ оплаты",
    "col_reference": "Номер операции",
    "no_payments": "Оплат в периоде не поступало.",
    "channel_bank": "Банк",
    "channel_online": "Онлайн",
    "channel_post": "Почта",
    "channel_cash": "Касса",
    "channel_terminal": "Терминал",
    "meters": "Показания приборов учёта",
    "col_serial": "Заводской номер",
    "col_zone": "Зона",
    "col_previous": "Предыдущие",
    "col_current": "Текущие",
    "col_consumption": "Расход, м³",
    "col_check_date": "Дата поверки",
    "zone_total": "общая",
    "zone_day": "день",
    "zone_night": "ночь",
    "unit_m3": "м³",
    "service_gas": "Газоснабжение",
    "service_gas_norm": "Газоснабжение (по нормативу)",
    "service_gas_metered": "Газоснабжение (по прибору учёта)",
    "service_gas_heating": "Газоснабжение (отопление)",
    "service_gas_cooking": "Газоснабжение (пищеприготовление)",
    "service_gas_heating_cooking": "Газоснабжение (отопление и пищеприготовление)",
    "service_gas_water_heating": "Газоснабжение (подогрев воды)",
    "service_maintenance_house": "Техническое обслуживание ВДГО",
    "service_maintenance_flat": "Техническое обслуживание ВКГО",
    "service_penalty": "Пени",
    "amount_due": "ИТОГО К ОПЛАТЕ",
    "pay_by": "Оплатить до {date}",
    "overpayment": "ПЕРЕПЛАТА",
    "overpayment_note": "Оплата не требуется: переплата будет учтена в следующих начислениях.",
    "nothing_due": "ЗАДОЛЖЕННОСТИ НЕТ",
    "nothing_due_note": "Оплата не требуется.",
    "qr_caption": "Оплата по QR-коду",
    "qr_hint": "Отсканируйте в приложении банка",
    "qr_sum": "Сумма в коде: {amount}",
    "qr_no_sum": "Сумму укажите в приложении банка",
    "support": "Поддержка",
    "date_format": "dd.MM.yyyy",
    "pdf_title": "Платёжный документ за {period}, л/с {account}",
    "pdf_subject": "Квитанция за газоснабжение",
}

_EN: Final[dict[str, str]] = {
    "title": "PAYMENT DOCUMENT (RECEIPT)",
    "subtitle": "for gas supply",
    "for_period": "for {period}",
    "account_number": "Account No.",
    "management_unit": "Gas facilities unit",
    "demo_banner": "DEMO requisites — do not pay",
    "demo_note": (
        "The payee's bank details were generated for a demonstration and do not belong "
        "to the supplier. Do not transfer money using this document."
    ),
    "payee": "Payee",
    "inn_kpp": "INN / KPP",
    "bank": "Bank",
    "bic": "BIC",
    "settlement_account": "Settlement account",
    "correspondent_account": "Corresp. account",
    "phone": "Phone",
    "email": "E-mail",
    "payer": "Payer",
    "payer_name": "Name",
    "address": "Address",
    "period": "Billing period",
    "residents": "Residents",
    "residents_value": "{count}",
    "heated_area": "Heated area",
    "area_value": "{area} m²",
    "not_known": "—",
    "summary": "Settlement for the period",
    "opening_debt": "Debt at the start of the period",
    "opening_overpayment": "Overpayment at the start of the period",
    "charged": "Charged",
    "recalculation": "Recalculation",
    "paid": "Paid",
    "closing_debt": "Debt at the end of the period",
    "closing_overpayment": "Overpayment at the end of the period",
    "charges": "Charges for the period",
    "col_service": "Service",
    "col_volume": "Volume",
    "col_unit": "Unit",
    "col_tariff": "Tariff, ₽",
    "col_charged": "Charged, ₽",
    "col_recalculation": "Recalc., ₽",
    "col_total": "Total, ₽",
    "total": "Total",
    "no_charges": "No charges for the period.",
    "payments": "Payments received in the period",
    "col_date": "Date",
    "col_amount": "Amount, ₽",
    "col_channel": "Paid via",
    "col_reference": "Reference",
    "no_payments": "No payments were received in the period.",
    "channel_bank": "Bank",
    "channel_online": "Online",
    "channel_post": "Post office",
    "channel_cash": "Cash desk",
    "channel_terminal": "Terminal",
    "meters": "Meter readings",
    "col_serial": "Serial No.",
    "col_zone": "Zone",
    "col_previous": "Previous",
    "col_current": "Current",
    "col_consumption": "Consumption, m³",
    "col_check_date": "Check date",
    "zone_total": "total",
    "zone_day": "day",
    "zone_night": "night",
    "unit_m3": "m³",
    "service_gas": "Gas supply",
    "service_gas_norm": "Gas supply (by the consumption norm)",
    "service_gas_metered": "Gas supply (by the meter)",
    "service_gas_heating": "Gas supply (heating)",
    "service_gas_cooking": "Gas supply (cooking)",
    "service_gas_heating_cooking": "Gas supply (heating and cooking)",
    "service_gas_water_heating": "Gas supply (water heating)",
    "service_maintenance_house": "Maintenance of in-house gas equipment",
    "service_maintenance_flat": "Maintenance of in-flat gas equipment",
    "service_penalty": "Late payment penalty",
    "amount_due": "AMOUNT DUE",
    "pay_by": "Pay by {date}",
    "overpayment": "OVERPAYMENT",
    "overpayment_note": "Nothing to pay: the overpayment will be set against future charges.",
    "nothing_due": "NOTHING DUE",
    "nothing_due_note": "Nothing to pay.",
    "qr_caption": "Pay by QR code",
    "qr_hint": "Scan it in your banking app",
    "qr_sum": "Amount in the code: {amount}",
    "qr_no_sum": "Enter the amount in your banking app",
    "support": "Support",
    "date_format": "d MMM y",
    "pdf_title": "Payment document for {period}, account {account}",
    "pdf_subject": "Gas supply receipt",
}

RECEIPT_LABELS: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {"ru": MappingProxyType(_RU), "en": MappingProxyType(_EN)}
)


def resolve_language(lang: str | None) -> str:
    """The document language for `lang` ("en", "en-US", "ru_RU"…): Russian unless we have it.

    Russian is the fallback because the payment document is a Russian one: every
    subscriber can read its original language.
    """
    base = re.split(r"[-_]", lang, maxsplit=1)[0].lower() if lang else ""
    return base if base in RECEIPT_LABELS else DEFAULT_LANGUAGE


def receipt_labels(lang: str | None) -> Mapping[str, str]:
    return RECEIPT_LABELS[resolve_language(lang)]


def service_label(name: str, labels: Mapping[str, str]) -> str:
    """A charge's service in the document's language when it is a known one (label
    `service_<KnownService>`); otherwise as the supplier wrote it."""
    known = known_service(name)
    return name if known is None else labels[f"service_{known}"]

"""The personal-data scrubber (bot/logs.py `scrub`): the shapes of phones, e-mails and account
numbers people type, what must come through untouched, and the log records it cleans; the
support path's masking of the user's own data (`PersonalData`)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.logs import QUIET_LOGGERS, ScrubFilter, scrub
from bot.services.support import PersonalData, validate_description

REPORTED = ("Не проходит оплата по л/с 5909 3873 (Белова), перезвоните на 916-123-45-67 "
            "или пишите на иван@почта.рф")


def test_the_reported_text_is_scrubbed() -> None:
    assert scrub(REPORTED) == ("Не проходит оплата по л/с ••••3873 (Белова), перезвоните на "
                               "<phone> или пишите на <email>")


@pytest.mark.parametrize(("text", "expected"), [
    # Account numbers split by spaces or dashes keep their last 4 digits.
    ("л/с 5909 3873", "л/с ••••3873"),
    ("счёт 59-30-19-12", "счёт ••••1912"),
    ("счёт 59–30–19–12.", "счёт ••••1912."),
    ("счёт 7 0 2 0 6 2 0 1 2", "счёт ••••2012"),
    ("счёт 00\u00a0123\u00a0456\u00a07", "счёт ••••4567"),
    ("№5812345678", "№••••5678"),
    # Phones without +7/8.
    ("тел. 916-123-45-67", "тел. <phone>"),
    ("тел. (916) 123 45 67", "тел. <phone>"),
    ("тел. (495)123-45-67", "тел. <phone>"),
    ("тел. 916 123 4567", "тел. <phone>"),
    # With +7/8, as before.
    ("+7 916 123-45-67", "<phone>"),
    ("8 (916) 123-45-67", "<phone>"),
    ("+7(916)1234567", "<phone>"),
    # Foreign phones.
    ("+380 44 123 4567", "<phone>"),
    ("+375 29 123-45-67", "<phone>"),
    ("+375291234567", "<phone>"),
    ("+1 (555) 123-4567", "<phone>"),
    ("+49 30 1234567", "<phone>"),
    # E-mails on internationalized domains, in both spellings, and plain ones.
    ("иван@почта.рф", "<email>"),
    ("Иван.Петров@Почта.РФ.", "<email>."),
    ("ivan@xn--80a1acny.xn--p1ai", "<email>"),
    ("user@sub.домен.рус,", "<email>,"),
    ("Ivan.Petrov@Example.RU", "<email>"),
    # A PIN or a password named as such (a trial's ticket sent «pin 8875» to the staff).
    ("acct 5240, pin 8875", "acct 5240, pin <secret>"),
    ("мой ПИН-код: 0110.", "мой ПИН-код: <secret>"),
    ("пин 1234 не подходит", "пин <secret> не подходит"),
    ("PIN code 4321", "PIN code <secret>"),
    ("пароль Xy7-p@ss", "пароль <secret>"),
    ("password=hunter2", "password=<secret>"),
])
def test_personal_data_forms_are_scrubbed(text: str, expected: str) -> None:
    assert scrub(text) == expected


@pytest.mark.parametrize("text", [
    "Оплатил 22.11.2026 в 10:30",
    "сумма 1 234,56 ₽",
    "долг 123 456,78 ₽, переплата 123 456 руб.",
    "-1 956,85",
    "показания 12345, прошлые 12 345",
    "счётчик 4,37507",
    "с 15 по 25 число",
    "2026-11-22 04:56:00 message support.description_sent [∅ → SupportStates:account] 3 ms ok",
    "22-11-2026 и 2026-11-22",
    "за 2025–2026 годы",
    "квартира 12, дом 5, подъезд 3",
    "10:30-12:00",
    "версия 1.2.3, v1.2@aiogram",
    "ticket #12 user 6201",
    "2026-11-22 14:09:27.123456 update handled",
    "не помню пароль от кабинета",
])
def test_ordinary_text_survives(text: str) -> None:
    assert scrub(text) == text


def test_log_records_are_scrubbed_with_the_new_forms() -> None:
    record = logging.LogRecord("bot", logging.INFO, __file__, 1, "ticket text: %s",
                               (REPORTED,), None)
    record.contact = "+375 29 123-45-67"
    record.user_id = 6201
    assert ScrubFilter().filter(record)
    message = record.getMessage()
    assert "5909 3873" not in message and "916" not in message and "почта" not in message
    assert record.contact == "<phone>" and record.user_id == 6201


def test_a_long_word_is_scrubbed_in_linear_time() -> None:
    text = "слово " * 500 + "a" * 20_000 + " 1 234,56 ₽"
    assert scrub(text) == text


OWN = PersonalData(phone="+79161234567",
                   emails=("иван@xn--80a1acny.xn--p1ai", "иван@почта.рф"),
                   accounts=("59093873", "001234567"))


@pytest.mark.parametrize(("text", "expected"), [
    # The user's own data in forms no generic pattern could tell from ordinary text.
    ("счёт 59.09.38.73", "счёт •••• 3873"),
    ("счёт 1234567 (без нулей)", "счёт •••• 4567 (без нулей)"),
    ("счёт 0 0 1 2 3 4 5 6 7", "счёт •••• 4567"),
    ("звоните 9 1 6 1 2 3 4 5 6 7", "звоните <phone>"),
    ("звоните (8-916)-123-45-67", "звоните <phone>"),
    ("ИВАН @ ПОЧТА.РФ", "<email>"),
    ("иван@XN--80A1ACNY.XN--P1AI", "<email>"),
    (REPORTED, "Не проходит оплата по л/с •••• 3873 (Белова), перезвоните на <phone> или "
               "пишите на <email>"),
    # Other people's numbers and ordinary numbers are left to the generic scrubber.
    ("соседа 59-30-19-12, оплата 22.11.2026 на 1 234,56 ₽",
     "соседа ••••1912, оплата 22.11.2026 на 1 234,56 ₽"),
])
def test_the_users_own_data_is_masked_in_any_form(text: str, expected: str) -> None:
    assert validate_description(text, OWN) == expected


def test_a_foreign_phone_of_the_user_is_found_in_national_form() -> None:
    own = PersonalData(phone="+380441234567")
    assert validate_description("звоните на 044 123 4567 после 18:00", own) == \
        "звоните на <phone> после 18:00"


async def test_sql_and_its_parameters_stay_out_of_the_log_even_at_debug(tmp_path: Any) -> None:
    """A user trial at LOG_LEVEL=DEBUG found aiosqlite logging each statement's parameters:
    the surname typed as a proof, the demo owners' names and PINs."""
    from sqlalchemy import text

    from bot.db.engine import create_engine
    from bot.logs import setup_logging

    root = logging.getLogger()
    saved = (list(root.handlers), root.level,
             {name: logging.getLogger(name).level for name in QUIET_LOGGERS})
    for name in QUIET_LOGGERS:  # as in a fresh process (the suite's conftest quiets some)
        logging.getLogger(name).setLevel(logging.NOTSET)
    log_file = tmp_path / "bot.log"
    setup_logging(fmt="json", level="DEBUG", log_file=log_file, stream=False)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT :surname"), {"surname": "Журавлёва"})
        logging.getLogger("bot.test").debug("debug lines still come through")
    finally:
        await engine.dispose()
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
    written = log_file.read_text(encoding="utf-8")
    assert "debug lines still come through" in written, written
    assert "Журавлёва" not in written and "SELECT" not in written

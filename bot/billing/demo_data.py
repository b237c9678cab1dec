"""The demo billing data set: generated, not stored in the repository.

Everything is derived from the supplier code, a fixed seed and two dates: the *anchor*
(the billing period current when a supplier is first seeded) and *today* (the clock at that
moment, which only decides which payments of the open period have happened yet). The same
catalog and the same clock give the same data, byte for byte, on any machine: random numbers
come from `random.Random` seeded with strings and all arithmetic is Decimal.

History: the 24 periods before the anchor are billed (readings, a charge, payments, a
settled balance, i.e. a receipt each); the anchor period itself is open — the one the next
receipt will be for. When the clock moves past it, `close_period` bills the months in between
with the same rules (see `DemoBillingConnector`), so the history keeps ending at the current
period.

Module functions are pure: no database, no clock.
"""

from __future__ import annotations

import calendar
import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final

from bot.billing.models import (
    Balance,
    Charge,
    Equipment,
    Meter,
    Payment,
    PaymentChannel,
    Period,
    ReadingRecord,
    ReadingSource,
    ReadingState,
)
from bot.suppliers.models import AccountRule, Platform, ProofKind, Supplier

__all__ = [
    "GENERATOR_VERSION",
    "HISTORY_MONTHS",
    "SERVICE",
    "UNIT",
    "AccountParams",
    "AccountPlan",
    "AccountSeed",
    "ClosedPeriod",
    "Kind",
    "MeterMonth",
    "Profile",
    "close_period",
    "due_date",
    "generate_supplier",
    "mask_address",
    "mask_owner",
    "meter_consumption",
    "normalize_surname",
    "plan_for",
    "tariff",
]

SEED: Final = "gasbot-demo-billing-1"
# Bump when the generated data changes shape; stored with each seeded supplier.
GENERATOR_VERSION: Final = 1
HISTORY_MONTHS: Final = 24
SERVICE: Final = "Газоснабжение"
UNIT: Final = "м³"
KOPECK: Final = Decimal("0.01")
RUBLE: Final = Decimal("1")
CAPACITY: Final = 5  # household gas meters show 5 integer digits
# Yearly tariff indexation on 1 July, as the regulator does.
INDEXATION: Final = Decimal("1.06")
# Estimates stay below the real consumption, so a subscriber's next real reading is never
# "less than the previous one" because of the supplier's guess.
ESTIMATE_SHARE: Final = Decimal("0.75")
ROLLOVER_GAP: Final = 50  # the near-rollover meter ends its history this far below 10^capacity


class Kind(StrEnum):
    """What an account demonstrates."""

    HOUSE = "house"  # private house heated by a gas boiler, one meter
    FLAT = "flat"  # flat with a stove and a water heater, one meter
    DEBTOR = "debtor"  # stopped paying over a year ago
    OVERPAYER = "overpayer"  # pays round sums in advance
    NO_METERS = "no_meters"  # billed by the consumption norm
    TWO_ZONE = "two_zone"  # a day/night meter
    ROLLOVER = "rollover"  # its meter is about to wrap past 99 999
    TWO_METERS = "two_meters"  # the house and a summer kitchen


class Profile(StrEnum):
    """How the owner pays."""

    REGULAR = "regular"
    DEBTOR = "debtor"
    OVERPAYER = "overpayer"


_PROFILE: Final = {Kind.DEBTOR: Profile.DEBTOR, Kind.OVERPAYER: Profile.OVERPAYER}
_HOUSES: Final = frozenset({Kind.HOUSE, Kind.DEBTOR, Kind.TWO_ZONE, Kind.TWO_METERS})


@dataclass(frozen=True, slots=True)
class AccountPlan:
    kind: Kind
    unit: str | None = None  # preferred management unit code
    twin_of: int | None = None  # same number as that account, in another unit
    length: int | None = None  # digits, for suppliers with a range
    owner: tuple[str, str, str] | None = None  # surname, first name, patronymic
    opening: Decimal | None = None  # balance before the history starts


_H, _F, _D, _O = Kind.HOUSE, Kind.FLAT, Kind.DEBTOR, Kind.OVERPAYER
_N, _Z, _R, _M = Kind.NO_METERS, Kind.TWO_ZONE, Kind.ROLLOVER, Kind.TWO_METERS

# Which accounts each bundled supplier has: every case the bot must handle appears several
# times across the catalog, and where a supplier's rules make a case special it is there
# (Кемерово refuses rollovers, Йошкар-Ола zero consumption, Ижевск and Пермь resubmissions).
_PLANS: Final[dict[str, tuple[AccountPlan, ...]]] = {
    "sevgas": (
        # The Севгаз cabinet's own example: overpayment at start −142,39.
        AccountPlan(_O, opening=Decimal("-142.39")),
        AccountPlan(_H),
        AccountPlan(_R),
    ),
    "crimea": (
        AccountPlan(_F, unit="simferopol", owner=("Королёва", "Анна", "Сергеевна")),
        AccountPlan(_D, unit="yalta"),
        AccountPlan(_O, unit="kerch"),
        # Крымгазсети numbers accounts per unit: the same number exists in two of them.
        AccountPlan(_N, unit="evpatoria", twin_of=0),
    ),
    # Four accounts: one more than the cabinet's limit of three.
    "mrg_perm": (AccountPlan(_H), AccountPlan(_F), AccountPlan(_D), AccountPlan(_Z)),
    "mrg_moscow": (AccountPlan(_H, length=10), AccountPlan(_M, length=8)),
    "mrg_spb": (AccountPlan(_F), AccountPlan(_Z)),
    "mrg_dagestan": (AccountPlan(_H), AccountPlan(_O)),
    "mrg_ingushetia": (AccountPlan(_H), AccountPlan(_D)),
    "mrg_kbr": (AccountPlan(_H), AccountPlan(_N)),
    "mrg_kchr": (AccountPlan(_F), AccountPlan(_M)),
    "mrg_alania": (AccountPlan(_H), AccountPlan(_R)),
    "mrg_kemerovo": (AccountPlan(_H), AccountPlan(_R)),
    "mrg_voronezh": (AccountPlan(_H), AccountPlan(_R)),
    "mrg_izhevsk": (AccountPlan(_H), AccountPlan(_D)),
    "mrg_yoshkarola": (AccountPlan(_F), AccountPlan(_N)),
    "mrg_zhigulevsk": (AccountPlan(_H), AccountPlan(_O)),
    "mrg_ivanovo": (AccountPlan(_F), AccountPlan(_Z)),
    "mrg_kaluga": (AccountPlan(_H), AccountPlan(_N)),
    "mrg_krasnodar": (AccountPlan(_H), AccountPlan(_D)),
    "mrg_kirov": (AccountPlan(_F), AccountPlan(_O)),
    "mrg_pskov": (AccountPlan(_H), AccountPlan(_M)),
    "mrg_rostov": (AccountPlan(_F), AccountPlan(_D)),
    "mrg_ryazan": (AccountPlan(_H), AccountPlan(_Z)),
    "mrg_samara": (AccountPlan(_F), AccountPlan(_R)),
}
_VARIANTS: Final = (_D, _O, _N, _Z, _R, _M)


def plan_for(supplier: Supplier) -> tuple[AccountPlan, ...]:
    """The bundled plan, or for a supplier an operator added: a house and one variant."""
    plan = _PLANS.get(supplier.code)
    if plan is not None:
        return plan
    return (AccountPlan(_H), AccountPlan(_VARIANTS[_hash(supplier.code, "variant") % 6]))


# --- people and places -------------------------------------------------------------------

_SURNAMES: Final = (
    "Иванов", "Петров", "Смирнов", "Кузнецов", "Попов", "Васильев", "Соколов", "Михайлов",
    "Новиков", "Фёдоров", "Морозов", "Волков", "Алексеев", "Лебедев", "Семёнов", "Егоров",
    "Павлов", "Козлов", "Степанов", "Николаев", "Орлов", "Андреев", "Макаров", "Никитин",
    "Захаров", "Зайцев", "Соловьёв", "Борисов", "Яковлев", "Григорьев", "Романов", "Воробьёв",
    "Сергеев", "Кузьмин", "Фролов", "Дмитриев", "Королёв", "Гусев", "Киселёв", "Ильин",
    "Максимов", "Поляков", "Сорокин", "Виноградов", "Ковалёв", "Белов", "Медведев", "Антонов",
    "Тарасов", "Жуков", "Баранов", "Филиппов", "Комаров", "Давыдов", "Беляев", "Герасимов",
    "Богданов", "Осипов", "Сидоров", "Матвеев", "Титов", "Марков", "Миронов", "Крылов",
    "Куликов", "Карпов", "Власов", "Мельников", "Денисов", "Гаврилов", "Тихонов", "Калинин",
    "Пономарёв", "Журавлёв", "Лазарев", "Воронин", "Щербаков", "Чернышёв", "Покровский",
)
_CRIMEAN_SURNAMES: Final = (
    *_SURNAMES[:40],
    "Коваленко", "Бондаренко", "Шевченко", "Ткаченко", "Кравченко", "Мельничук",
    "Литвиненко", "Савчук", "Гончаренко", "Мустафаев", "Аблаев",
)
_MALE: Final = (
    "Александр", "Сергей", "Владимир", "Андрей", "Алексей", "Дмитрий", "Николай", "Михаил",
    "Игорь", "Юрий", "Виктор", "Евгений", "Олег", "Павел", "Иван", "Анатолий", "Василий",
)
_FEMALE: Final = (
    "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Галина", "Людмила",
    "Марина", "Анна", "Валентина", "Надежда", "Нина", "Любовь", "Юлия",
)
_FATHERS: Final = (
    ("Александрович", "Александровна"), ("Сергеевич", "Сергеевна"),
    ("Владимирович", "Владимировна"), ("Николаевич", "Николаевна"), ("Иванович", "Ивановна"),
    ("Петрович", "Петровна"), ("Викторович", "Викторовна"), ("Михайлович", "Михайловна"),
    ("Анатольевич", "Анатольевна"), ("Юрьевич", "Юрьевна"), ("Васильевич", "Васильевна"),
    ("Геннадьевич", "Геннадьевна"), ("Алексеевич", "Алексеевна"), ("Дмитриевич", "Дмитриевна"),
)


@dataclass(frozen=True, slots=True)
class _Names:
    surnames: tuple[str, ...]
    male: tuple[str, ...]
    female: tuple[str, ...]
    fathers: tuple[tuple[str, str], ...]


_RUSSIAN: Final = _Names(_SURNAMES, _MALE, _FEMALE, _FATHERS)
_REGIONAL_NAMES: Final[dict[str, _Names]] = {
    "mrg_dagestan": _Names(
        ("Магомедов", "Абдуллаев", "Гасанов", "Алиев", "Рамазанов", "Исмаилов", "Гаджиев"),
        ("Магомед", "Ахмед", "Рамазан", "Шамиль", "Гаджи", "Расул"),
        ("Патимат", "Зарема", "Мадина", "Аминат", "Хадижат"),
        (("Магомедович", "Магомедовна"), ("Ахмедович", "Ахмедовна"),
         ("Гаджиевич", "Гаджиевна"), ("Расулович", "Расуловна")),
    ),
    "mrg_ingushetia": _Names(
        ("Евлоев", "Мальсагов", "Оздоев", "Албогачиев", "Котиев", "Барахоев"),
        ("Ибрагим", "Руслан", "Магомед", "Ахмед", "Муса"),
        ("Хава", "Луиза", "Мадина", "Зарина"),
        (("Ибрагимович", "Ибрагимовна"), ("Русланович", "Руслановна"),
         ("Мусаевич", "Мусаевна"), ("Ахмедович", "Ахмедовна")),
    ),
    "mrg_kbr": _Names(
        ("Шогенов", "Кушхов", "Тхагапсоев", "Кудаев", "Бозиев", "Карданов"),
        ("Аслан", "Мурат", "Хасан", "Алим", "Беслан"),
        ("Марина", "Фатима", "Залина", "Мадина"),
        (("Асланович", "Аслановна"), ("Муратович", "Муратовна"),
         ("Хасанович", "Хасановна"), ("Борисович", "Борисовна")),
    ),
    "mrg_kchr": _Names(
        ("Байрамуков", "Узденов", "Джанибеков", "Хубиев", "Семенов", "Лайпанов"),
        ("Азамат", "Руслан", "Ислам", "Борис", "Шамиль"),
        ("Фатима", "Зухра", "Мариям", "Лейла"),
        (("Азаматович", "Азаматовна"), ("Исламович", "Исламовна"),
         ("Борисович", "Борисовна"), ("Русланович", "Руслановна")),
    ),
    "mrg_alania": _Names(
        ("Дзагоев", "Гагиев", "Цаллагов", "Хетагуров", "Кокоев", "Плиев", "Бестаев"),
        ("Алан", "Сослан", "Тамерлан", "Заур", "Казбек", "Руслан"),
        ("Залина", "Фатима", "Мадина", "Агунда", "Зарина"),
        (("Казбекович", "Казбековна"), ("Таймуразович", "Таймуразовна"),
         ("Владимирович", "Владимировна"), ("Эльбрусович", "Эльбрусовна")),
    ),
    "sevgas": _Names(_CRIMEAN_SURNAMES, _MALE, _FEMALE, _FATHERS),
    "crimea": _Names(_CRIMEAN_SURNAMES, _MALE, _FEMALE, _FATHERS),
}

# Localities of each supplier's region, written as the address begins.
_LOCALITIES: Final[dict[str, tuple[str, ...]]] = {
    "mrg_voronezh": ("Воронежская обл., г. Воронеж", "Воронежская обл., г. Борисоглебск",
                     "Воронежская обл., г. Россошь", "Воронежская обл., пгт Рамонь"),
    "mrg_zhigulevsk": ("Самарская обл., г. Жигулёвск", "Самарская обл., с. Зольное",
                       "Самарская обл., пгт Яблоневый Овраг"),
    "mrg_ivanovo": ("Ивановская обл., г. Иваново", "Ивановская обл., г. Кинешма",
                    "Ивановская обл., г. Шуя"),
    "mrg_izhevsk": ("Удмуртская Респ., г. Ижевск", "Удмуртская Респ., г. Сарапул",
                    "Удмуртская Респ., г. Воткинск"),
    "mrg_yoshkarola": ("Респ. Марий Эл, г. Йошкар-Ола", "Респ. Марий Эл, г. Волжск",
                       "Респ. Марий Эл, пгт Медведево"),
    "mrg_kaluga": ("Калужская обл., г. Калуга", "Калужская обл., г. Обнинск",
                   "Калужская обл., г. Малоярославец"),
    "mrg_krasnodar": ("Краснодарский край, г. Краснодар", "Краснодарский край, г. Армавир",
                      "Краснодарский край, ст-ца Динская"),
    "mrg_kemerovo": ("Кемеровская обл., г. Кемерово", "Кемеровская обл., г. Новокузнецк",
                     "Кемеровская обл., г. Прокопьевск"),
    "mrg_kirov": ("Кировская обл., г. Киров", "Кировская обл., г. Слободской",
                  "Кировская обл., г. Котельнич"),
    "mrg_moscow": ("Московская обл., г. Подольск", "Московская обл., г. Балашиха",
                   "Московская обл., г. Сергиев Посад", "Московская обл., д. Жуковка"),
    "mrg_perm": ("Пермский край, г. Пермь", "Пермский край, г. Березники",
                 "Пермский край, г. Соликамск", "Пермский край, г. Краснокамск"),
    "mrg_pskov": ("Псковская обл., г. Псков", "Псковская обл., г. Великие Луки",
                  "Псковская обл., г. Остров"),
    "mrg_dagestan": ("Респ. Дагестан, г. Махачкала", "Респ. Дагестан, г. Дербент",
                     "Респ. Дагестан, г. Хасавюрт", "Респ. Дагестан, г. Буйнакск"),
    "mrg_ingushetia": ("Респ. Ингушетия, г. Назрань", "Респ. Ингушетия, г. Магас",
                       "Респ. Ингушетия, г. Малгобек"),
    "mrg_kbr": ("Кабардино-Балкарская Респ., г. Нальчик",
                "Кабардино-Балкарская Респ., г. Прохладный",
                "Кабардино-Балкарская Респ., г. Баксан"),
    "mrg_kchr": ("Карачаево-Черкесская Респ., г. Черкесск",
                 "Карачаево-Черкесская Респ., г. Карачаевск",
                 "Карачаево-Черкесская Респ., ст-ца Зеленчукская"),
    "mrg_alania": ("Респ. Северная Осетия — Алания, г. Владикавказ",
                   "Респ. Северная Осетия — Алания, г. Моздок",
                   "Респ. Северная Осетия — Алания, г. Беслан"),
    "mrg_rostov": ("Ростовская обл., г. Ростов-на-Дону", "Ростовская обл., г. Таганрог",
                   "Ростовская обл., г. Новочеркасск", "Ростовская обл., г. Батайск"),
    "mrg_ryazan": ("Рязанская обл., г. Рязань", "Рязанская обл., г. Касимов",
                   "Рязанская обл., г. Скопин"),
    "mrg_samara": ("Самарская обл., г. Самара", "Самарская обл., г. Тольятти",
                   "Самарская обл., г. Новокуйбышевск"),
    "mrg_spb": ("г. Санкт-Петербург", "Ленинградская обл., г. Гатчина",
                "Ленинградская обл., г. Всеволожск"),
    "sevgas": ("г. Севастополь", "г. Севастополь, г. Инкерман", "г. Севастополь, пгт Кача"),
}
_CRIMEAN_TOWNS: Final[dict[str, str]] = {
    "alushta": "г. Алушта", "bakhchisaray": "г. Бахчисарай", "belogorsk": "г. Белогорск",
    "dzhankoy": "г. Джанкой", "evpatoria": "г. Евпатория", "kerch": "г. Керчь",
    "kirovskoe": "пгт Кировское", "krasnogvardeyskoe": "пгт Красногвардейское",
    "krasnoperekopsk": "г. Красноперекопск", "leninskoe": "пгт Ленино",
    "nizhnegorsky": "пгт Нижнегорский", "pervomayskoe": "пгт Первомайское",
    "razdolnoe": "пгт Раздольное", "saki": "г. Саки", "simferopol": "г. Симферополь",
    "sovetsky": "пгт Советский", "sudak": "г. Судак", "feodosia": "г. Феодосия",
    "chernomorskoe": "пгт Черноморское", "yalta": "г. Ялта",
}
_STREETS: Final = (
    "ул. Ленина", "ул. Советская", "ул. Мира", "ул. Гагарина", "ул. Садовая", "ул. Школьная",
    "пр-т Победы", "ул. Молодёжная", "ул. Лесная", "пер. Почтовый", "ул. Пушкина",
    "ул. Октябрьская", "ул. Комсомольская", "ул. Набережная", "ул. Кирова", "ул. Чкалова",
)
_STREET_TYPES: Final = ("ул.", "пр-т", "пер.", "б-р", "ш.", "пл.", "мкр.")


# --- generated records ------------------------------------------------------------------


@dataclass(slots=True)
class AccountSeed:
    number: str
    unit_code: str  # "" for suppliers without units
    kind: Kind
    profile: Profile
    surname: str
    first_name: str
    patronymic: str
    locality: str
    street: str
    house: str
    flat: str | None
    residents: int
    heated_area: Decimal | None
    equipment: tuple[Equipment, ...]
    pin: str | None
    pay_day: int
    norm_volume: Decimal | None
    meters: list[Meter] = field(default_factory=list)  # `last` left None: derived from readings
    readings: list[ReadingRecord] = field(default_factory=list)  # meter_id = Meter.id
    charges: list[Charge] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    balances: list[Balance] = field(default_factory=list)  # billed periods only

    @property
    def params(self) -> AccountParams:
        return AccountParams(
            key=_account_key(self.unit_code, self.number),
            kind=self.kind,
            profile=self.profile,
            residents=self.residents,
            heated_area=self.heated_area,
            equipment=self.equipment,
            pay_day=self.pay_day,
            norm_volume=self.norm_volume,
        )


@dataclass(frozen=True, slots=True)
class AccountParams:
    """What billing a month needs to know about an account."""

    key: str  # stable within the supplier: seeds the month's random numbers
    kind: Kind
    profile: Profile
    residents: int
    heated_area: Decimal | None
    equipment: tuple[Equipment, ...]
    pay_day: int
    norm_volume: Decimal | None


@dataclass(frozen=True, slots=True)
class MeterMonth:
    """One meter in the month being billed."""

    code: str
    position: int
    zones: tuple[str, ...]
    capacity: int
    decimals: int
    previous: tuple[Decimal, ...] | None  # the last accepted reading before the period
    current: tuple[Decimal, ...] | None  # the period's last accepted reading


@dataclass(frozen=True, slots=True)
class ClosedPeriod:
    estimates: tuple[ReadingRecord, ...]  # readings the supplier had to estimate
    payments: tuple[Payment, ...]  # payments the simulated owner made
    charge: Charge
    balance: Balance


# --- rules shared by the seed and the monthly billing run -------------------------------


def _hash(*parts: str) -> int:
    digest = hashlib.sha256("|".join((SEED, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _rng(*parts: str) -> random.Random:
    # A str seed is hashed with SHA-512 by `random`: stable across runs and machines.
    return random.Random("|".join((SEED, *parts)))


def _account_key(unit_code: str, number: str) -> str:
    return f"{unit_code}/{number}"


def _months_between(start: Period, end: Period) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


def _last_day(period: Period) -> int:
    return calendar.monthrange(period.year, period.month)[1]


def _day(period: Period, day: int) -> date:
    return date(period.year, period.month, max(1, min(day, _last_day(period))))


def _step(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


def tariff(supplier_code: str, period: Period, anchor: Period) -> Decimal:
    """₽ per m³: 7.80–8.95 in the anchor's tariff year, indexed every 1 July."""
    base = Decimal(780 + _hash(supplier_code, "tariff") % 116) / 100

    def tariff_year(p: Period) -> int:
        return p.year if p.month >= 7 else p.year - 1

    steps = tariff_year(period) - tariff_year(anchor)
    return (base * INDEXATION**steps).quantize(KOPECK, ROUND_HALF_UP)


def due_date(supplier_code: str, period: Period) -> date:
    """The receipt of `period` is due on the 10th or the 25th of the next month."""
    day = 25 if _hash(supplier_code, "due") % 3 == 0 else 10
    return _day(period.shift(1), day)


def meter_consumption(previous: Decimal, current: Decimal, capacity: int) -> Decimal:
    """Consumption between two readings; a drop of more than half the dial is a wrap past
    zero, a smaller one is real (a correction after an estimate) and stays negative."""
    if current >= previous:
        return current - previous
    span = Decimal(10) ** capacity
    if previous - current > span / 2:
        return current + span - previous
    return current - previous


def _use(params: AccountParams, position: int, period: Period) -> Decimal:
    """Gas actually burnt in a month on one meter, m³ (unrounded)."""
    rng = _rng(params.key, str(period), "use", str(position))
    if position > 0:
        # The summer kitchen: a stove used mostly in the warm months.
        base = Decimal(rng.randint(20, 45)) / 10
        return base * (3 if 5 <= period.month <= 9 else 1)
    use = Decimal(0)
    if Equipment.STOVE in params.equipment:
        use += params.residents * Decimal(rng.randint(35, 55)) / 10
    if Equipment.WATER_HEATER in params.equipment:
        use += params.residents * Decimal(rng.randint(60, 90)) / 10
    if Equipment.BOILER in params.equipment:
        area = params.heated_area if params.heated_area is not None else Decimal(80)
        season = _HEATING[period.month] * Decimal(rng.randint(90, 110)) / 100
        use += area * Decimal("3.2") * season
        use += params.residents * Decimal(rng.randint(50, 70)) / 10  # hot water
    return use


_HEATING: Final = {
    month: Decimal(share)
    for month, share in enumerate(
        ("1.00", "0.92", "0.76", "0.48", "0.18", "0.04", "0.02", "0.02", "0.10", "0.42",
         "0.70", "0.93"),
        start=1,
    )
}
_DAY_SHARE: Final = Decimal("0.62")


def _split(total: Decimal, zones: int, decimals: int) -> tuple[Decimal, ...]:
    total = total.quantize(_step(decimals), ROUND_HALF_UP)
    if zones == 1:
        return (total,)
    day = (total * _DAY_SHARE).quantize(_step(decimals), ROUND_HALF_UP)
    return (day, total - day)


def _advance(values: tuple[Decimal, ...], use: tuple[Decimal, ...],
             capacity: int) -> tuple[Decimal, ...]:
    span = Decimal(10) ** capacity
    return tuple((value + delta) % span for value, delta in zip(values, use, strict=True))


_CHANNELS: Final = (
    PaymentChannel.ONLINE, PaymentChannel.BANK, PaymentChannel.TERMINAL,
    PaymentChannel.POST, PaymentChannel.CASH,
)
_CHANNEL_WEIGHTS: Final = (35, 30, 10, 15, 10)


def _planned_payment(params: AccountParams, period: Period, anchor: Period,
                     previous_closing: Decimal, last_charge: Decimal) -> Payment | None:
    """What the owner pays during `period`, by their habit."""
    rng = _rng(params.key, str(period), "pay")
    if params.profile is Profile.REGULAR:
        if previous_closing <= 0:
            return None
        amount = previous_closing
        if rng.random() < 0.3:  # some round the receipt up to tens of roubles
            amount = (amount / 10).to_integral_value(ROUND_CEILING) * 10
    elif params.profile is Profile.DEBTOR:
        # Paid part of each receipt, then stopped 15 months before the anchor: no payment in
        # the anchor's calendar year, whatever month it is.
        if _months_between(anchor, period) > -15 or previous_closing <= 0:
            return None
        amount = (previous_closing * Decimal("0.6")).quantize(RUBLE, ROUND_HALF_UP)
    else:
        if (period.year * 12 + period.month + _hash(params.key, "phase")) % 3 != 0:
            return None
        amount = max(Decimal(500), (last_charge * 4 / 500).to_integral_value(ROUND_CEILING) * 500)
    amount = amount.quantize(KOPECK)
    channel = rng.choices(_CHANNELS, _CHANNEL_WEIGHTS)[0]
    reference = None if channel is PaymentChannel.CASH else f"{rng.randint(100000, 999999)}"
    paid_on = _day(period, params.pay_day + rng.randint(-2, 2))
    return Payment(paid_on=paid_on, amount=amount, channel=channel, reference=reference)


def _rate(supplier_code: str, anchor: Period, period: Period, params: AccountParams,
          moves: Sequence[Decimal], extra_recalculation: Decimal) -> Charge:
    """The month's charge: metered consumption (`moves`, per meter and zone) or the norm.
    A negative move (a real reading below an estimate) is credited as a recalculation."""
    price = tariff(supplier_code, period, anchor)
    if params.norm_volume is not None:
        volume = params.norm_volume
        recalculation = extra_recalculation
    else:
        volume = sum((move for move in moves if move > 0), Decimal(0))
        credit = sum((move for move in moves if move < 0), Decimal(0))
        recalculation = (credit * price).quantize(KOPECK, ROUND_HALF_UP) + extra_recalculation
    return Charge(
        period=period,
        service=SERVICE,
        volume=volume,
        unit=UNIT,
        tariff=price,
        amount=(volume * price).quantize(KOPECK, ROUND_HALF_UP),
        recalculation=recalculation.quantize(KOPECK),
    )


def _settle(supplier_code: str, period: Period, opening: Decimal, charge: Charge,
            payments: Sequence[Payment]) -> Balance:
    paid = sum((payment.amount for payment in payments), Decimal("0.00"))
    closing = opening + charge.amount + charge.recalculation - paid
    return Balance(
        period=period,
        opening=opening,
        charged=charge.amount,
        recalculation=charge.recalculation,
        paid=paid,
        closing=closing.quantize(KOPECK),
        due_date=due_date(supplier_code, period),
    )


def close_period(supplier_code: str, anchor: Period, params: AccountParams, period: Period,
                 opening: Decimal, last_charge: Decimal, meters: Sequence[MeterMonth],
                 payments: Sequence[Payment]) -> ClosedPeriod:
    """Bill a month that has ended: estimate missing readings, let the owner pay as usual
    if they have not paid yet this month, rate the consumption and settle the balance."""
    estimates: list[ReadingRecord] = []
    moves: list[Decimal] = []
    for meter in meters:
        if meter.previous is None:
            continue
        current = meter.current
        if current is None:
            use = _split(_use(params, meter.position, period) * ESTIMATE_SHARE,
                         len(meter.zones), meter.decimals)
            current = _advance(meter.previous, use, meter.capacity)
            estimates.append(ReadingRecord(
                meter_id=meter.code, period=period, values=current, consumption=use,
                taken_on=_day(period, 31), source=ReadingSource.ESTIMATE,
                state=ReadingState.ACCEPTED,
            ))
        moves.extend(
            meter_consumption(before, after, meter.capacity)
            for before, after in zip(meter.previous, current, strict=True)
        )
    made: list[Payment] = []
    if not payments:
        planned = _planned_payment(params, period, anchor, opening, last_charge)
        if planned is not None:
            made.append(planned)
    charge = _rate(supplier_code, anchor, period, params, moves, Decimal(0))
    balance = _settle(supplier_code, period, opening, charge, [*payments, *made])
    return ClosedPeriod(tuple(estimates), tuple(made), charge, balance)


# --- the seed -------------------------------------------------------------------------------


def generate_supplier(supplier: Supplier, anchor: Period, today: date) -> list[AccountSeed]:
    """The demo accounts of one supplier with 24 billed months before `anchor` and the
    payments of the open `anchor` period made up to `today`."""
    seeds: list[AccountSeed] = []
    for index, plan in enumerate(plan_for(supplier)):
        seed = _account(supplier, index, plan, seeds)
        _history(supplier, seed, index, plan, anchor, today)
        seeds.append(seed)
    return seeds


def _account(supplier: Supplier, index: int, plan: AccountPlan,
             earlier: list[AccountSeed]) -> AccountSeed:
    rng = _rng(supplier.code, "account", str(index))
    unit_code = _unit_code(supplier, plan, index)
    if plan.twin_of is not None and plan.twin_of < len(earlier):
        number = earlier[plan.twin_of].number
    else:
        taken = {seed.number for seed in earlier if seed.unit_code == unit_code}
        number = _account_number(supplier.account, rng, index, plan.length, taken)
    surname, first_name, patronymic = plan.owner or _owner(supplier.code, rng)
    house_kind = plan.kind in _HOUSES
    locality = _locality(supplier, unit_code, rng)
    street = rng.choice(_STREETS)
    house = str(rng.randint(1, 85) if house_kind else rng.randint(1, 140))
    flat = None if house_kind else str(rng.randint(1, 180))
    residents = rng.randint(2, 5) if house_kind else rng.randint(1, 4)
    heated_area = Decimal(rng.randint(550, 1400)) / 10 if house_kind else None
    if plan.kind in _HOUSES:
        equipment: tuple[Equipment, ...] = (Equipment.STOVE, Equipment.BOILER)
    elif plan.kind in (Kind.FLAT, Kind.ROLLOVER):
        equipment = (Equipment.STOVE, Equipment.WATER_HEATER)
    else:
        equipment = (Equipment.STOVE,)
    pin = None
    if ProofKind.PIN in supplier.proofs:
        digits = 6 if supplier.platform is Platform.SEVGAS else 4
        pin = f"{rng.randint(0, 10**digits - 1):0{digits}d}"
    norm = None
    if plan.kind is Kind.NO_METERS:
        norm = (residents * Decimal(rng.randint(95, 125)) / 10).quantize(KOPECK)
    seed = AccountSeed(
        number=number, unit_code=unit_code, kind=plan.kind,
        profile=_PROFILE.get(plan.kind, Profile.REGULAR), surname=surname,
        first_name=first_name, patronymic=patronymic, locality=locality, street=street,
        house=house, flat=flat, residents=residents, heated_area=heated_area,
        equipment=equipment, pin=pin, pay_day=rng.randint(3, 20), norm_volume=norm,
    )
    if plan.kind is not Kind.NO_METERS:
        positions = 2 if plan.kind is Kind.TWO_METERS else 1
        zones = ("day", "night") if plan.kind is Kind.TWO_ZONE else ("total",)
        for position in range(positions):
            code = "m" + hashlib.sha256(
                f"{SEED}|{supplier.code}|{unit_code}|{number}|{position}".encode()
            ).hexdigest()[:10]
            seed.meters.append(Meter(
                id=code, serial=f"{rng.randint(0, 99_999_999):08d}", zones=zones,
                capacity=CAPACITY, decimals=supplier.readings.decimals,
                check_date=None, last=None,
            ))
    return seed


def _history(supplier: Supplier, seed: AccountSeed, index: int, plan: AccountPlan,
             anchor: Period, today: date) -> None:
    rng = _rng(supplier.code, "history", str(index))
    params = seed.params
    first = anchor.shift(-HISTORY_MONTHS)
    window = supplier.readings.window
    # Verification dates: mostly years ahead, some due within months.
    seed.meters = [
        Meter(
            id=meter.id, serial=meter.serial, zones=meter.zones, capacity=meter.capacity,
            decimals=meter.decimals, last=None,
            check_date=_day(anchor.shift(rng.choice((2, 5, 14, 27, 40, 52, 65, 80))),
                            rng.randint(1, 28)),
        )
        for meter in seed.meters
    ]
    # Which month the owner forgot to submit, so the supplier estimated it.
    missed = rng.choice((3, 4, 5, 9, 10, 11, 15, 16, 17))
    recalculated = rng.randint(5, 18)  # no meters: a month of temporary absence
    history = [first.shift(offset) for offset in range(HISTORY_MONTHS)]

    # Meter state: what the supplier has on record, and what the dial really shows.
    recorded: dict[str, tuple[Decimal, ...]] = {}
    real: dict[str, tuple[Decimal, ...]] = {}
    for meter in seed.meters:
        position = seed.meters.index(meter)
        zones = len(meter.zones)
        uses = [_split(_use(params, position, period), zones, meter.decimals)
                for period in history]
        if seed.kind is Kind.ROLLOVER:
            # End the history just below 10^capacity so the next reading wraps past zero.
            top = Decimal(10) ** meter.capacity - ROLLOVER_GAP
            start_total = top - sum((sum(use) for use in uses), Decimal(0))
            start = _split(start_total, zones, meter.decimals)
        else:
            start = _split(Decimal(rng.randint(800, 45000)) + Decimal(rng.randint(0, 999)) / 1000,
                           zones, meter.decimals)
        before = first.shift(-1)
        seed.readings.append(ReadingRecord(
            meter_id=meter.id, period=before, values=start,
            consumption=tuple(Decimal(0).quantize(_step(meter.decimals)) for _ in start),
            taken_on=_day(before, 20), source=ReadingSource.SUPPLIER,
            state=ReadingState.ACCEPTED,
        ))
        recorded[meter.id] = start
        real[meter.id] = start

    opening = plan.opening if plan.opening is not None else _opening(
        supplier.code, anchor, seed, first.shift(-1))
    last_charge = Decimal(0)
    for offset, period in enumerate(history):
        moves: list[Decimal] = []
        for position, meter in enumerate(seed.meters):
            use = _split(_use(params, position, period), len(meter.zones), meter.decimals)
            previous = recorded[meter.id]
            real[meter.id] = _advance(real[meter.id], use, meter.capacity)
            source = ReadingSource.SUBSCRIBER
            if (seed.profile is Profile.DEBTOR and offset >= HISTORY_MONTHS - 4) or (
                offset == missed
            ):
                source = ReadingSource.ESTIMATE
            elif offset % 6 == 2:
                source = ReadingSource.SUPPLIER  # the inspector's visit
            if source is ReadingSource.ESTIMATE:
                guess = _split(sum(use) * ESTIMATE_SHARE, len(meter.zones), meter.decimals)
                values = _advance(previous, guess, meter.capacity)
                taken_on = _day(period, 31)
            else:
                values = real[meter.id]
                start_day, end_day = window.bounds(period.year, period.month)
                if source is ReadingSource.SUPPLIER:
                    taken_on = _day(period, rng.randint(1, 28))
                else:
                    taken_on = _day(period, rng.randint(start_day.day, end_day.day))
                if seed.kind is Kind.HOUSE and offset == 7 and position == 0:
                    # A typo the supplier refused, re-entered correctly the same day.
                    typo = tuple(max(Decimal(0), value - rng.randint(100, 900))
                                 for value in previous)
                    seed.readings.append(_record(meter, period, previous, typo, taken_on,
                                                 source, ReadingState.REJECTED))
            seed.readings.append(_record(meter, period, previous, values, taken_on, source,
                                         ReadingState.ACCEPTED))
            moves.extend(meter_consumption(a, b, meter.capacity)
                         for a, b in zip(previous, values, strict=True))
            recorded[meter.id] = values
        extra = Decimal(0)
        if seed.norm_volume is not None and offset == recalculated:
            absent = rng.randint(10, 20)
            price = tariff(supplier.code, period, anchor)
            extra = -(seed.norm_volume * price * absent / _last_day(period)).quantize(
                KOPECK, ROUND_HALF_UP)
        payment = _planned_payment(params, period, anchor, opening, last_charge)
        payments = [payment] if payment is not None else []
        charge = _rate(supplier.code, anchor, period, params, moves, extra)
        balance = _settle(supplier.code, period, opening, charge, payments)
        seed.payments.extend(payments)
        seed.charges.append(charge)
        seed.balances.append(balance)
        opening = balance.closing
        last_charge = charge.amount
    # The open period: only what has been paid by today.
    payment = _planned_payment(params, anchor, anchor, opening, last_charge)
    if payment is not None and payment.paid_on <= today:
        seed.payments.append(payment)


def _record(meter: Meter, period: Period, previous: tuple[Decimal, ...],
            values: tuple[Decimal, ...], taken_on: date, source: ReadingSource,
            state: ReadingState) -> ReadingRecord:
    consumption = tuple(meter_consumption(a, b, meter.capacity)
                        for a, b in zip(previous, values, strict=True))
    return ReadingRecord(meter_id=meter.id, period=period, values=values,
                         consumption=consumption, taken_on=taken_on, source=source, state=state)


def _opening(supplier_code: str, anchor: Period, seed: AccountSeed, before: Period) -> Decimal:
    """The balance carried into the history: the last receipt before it, unpaid yet; a
    debtor owes a few more months on top."""
    params = seed.params
    if seed.norm_volume is not None:
        volume = seed.norm_volume
    else:
        volume = sum((_use(params, position, before) for position in range(len(seed.meters))),
                     Decimal(0))
    receipt = (volume * tariff(supplier_code, before, anchor)).quantize(KOPECK, ROUND_HALF_UP)
    if seed.profile is Profile.DEBTOR:
        return receipt + Decimal(_hash(params.key, "arrears") % 3000 + 1500)
    if seed.profile is Profile.OVERPAYER:
        return -Decimal(_hash(params.key, "advance") % 25000 + 5000) / 100
    return receipt


def _unit_code(supplier: Supplier, plan: AccountPlan, index: int) -> str:
    if not supplier.units:
        return ""
    codes = [unit.code for unit in supplier.units]
    if plan.unit in codes:
        return plan.unit
    return codes[(_hash(supplier.code, "unit", str(index))) % len(codes)]


def _account_number(rule: AccountRule, rng: random.Random, index: int, length: int | None,
                    taken: set[str]) -> str:
    """A number that passes the supplier's own rule, shaped like its example: the same
    leading zeros (Севгаз `00…`), the same region prefix, or a sector code."""
    example = rule.example
    size = rule.digits or length or len(example)
    if rule.min_digits is not None:
        size = max(size, rule.min_digits)
    if rule.max_digits is not None:
        size = min(size, rule.max_digits)
    zeros = len(example) - len(example.lstrip("0"))
    if zeros:
        prefix = "0" * zeros
    elif rule.compiled_pattern is not None and "sector" in rule.compiled_pattern.groupindex:
        # Sector codes differ between accounts; "05" shows a zero that must stay.
        prefix = (example[:2], "05", "21", "34")[index % 4]
    else:
        prefix = example[:2]
    for attempt in range(200):
        head = prefix if attempt < 100 else ""
        candidate = head + "".join(str(rng.randint(0, 9)) for _ in range(size - len(head)))
        check = rule.validate(candidate)
        if check.ok and check.number == candidate and candidate not in taken:
            return candidate
    if example not in taken:
        return example
    raise ValueError(f"cannot make a demo account number for the rule of '{example}'")


def _owner(supplier_code: str, rng: random.Random) -> tuple[str, str, str]:
    names = _REGIONAL_NAMES.get(supplier_code, _RUSSIAN)
    surname = rng.choice(names.surnames)
    male_father, female_father = rng.choice(names.fathers)
    if rng.random() < 0.45:
        return _feminine(surname), rng.choice(names.female), female_father
    return surname, rng.choice(names.male), male_father


def _feminine(surname: str) -> str:
    if surname.endswith(("ов", "ев", "ёв", "ин", "ын")):
        return surname + "а"
    if surname.endswith(("ский", "цкий")):
        return surname[:-2] + "ая"
    return surname  # -енко, -чук and the like do not change


def _locality(supplier: Supplier, unit_code: str, rng: random.Random) -> str:
    if unit_code:
        town = _CRIMEAN_TOWNS.get(unit_code, "с. Мирное")
        return f"Респ. Крым, {town}"
    options = _LOCALITIES.get(supplier.code)
    if options is None:
        return supplier.region.ru
    return rng.choice(options)


# --- presentation helpers ---------------------------------------------------------------


def normalize_surname(text: str) -> str:
    """For comparing surnames: case, «ё»/«е», surrounding and repeated spaces do not matter."""
    return " ".join(text.split()).casefold().replace("ё", "е")


def mask_owner(surname: str, first_name: str, patronymic: str) -> str:
    """«Иванов Иван Иванович» → «Ив**** И. И.»."""
    hidden = surname[:2] + "*" * max(0, len(surname) - 2)
    return f"{hidden} {first_name[:1]}. {patronymic[:1]}."


def mask_address(locality: str, street: str, house: str, flat: str | None) -> str:
    """«г. Севастополь, ул. Ленина, д. 12, кв. 45» → «г. Севастополь, ул. Л*****, д. **, кв. **»."""
    kind, _, name = street.partition(" ")
    if kind not in _STREET_TYPES:
        kind, name = "", street
    masked_street = (f"{kind} " if kind else "") + name[:1] + "*" * max(0, len(name) - 1)
    text = f"{locality}, {masked_street}, д. {'*' * len(house)}"
    return text + (f", кв. {'*' * len(flat)}" if flat else "")


def full_address(locality: str, street: str, house: str, flat: str | None) -> str:
    text = f"{locality}, {street}, д. {house}"
    return text + (f", кв. {flat}" if flat else "")

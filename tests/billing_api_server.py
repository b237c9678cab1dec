"""An in-memory supplier billing system that speaks docs/billing-api.yaml, for connector tests.

`FakeBillingServer` is what a supplier would run, reduced to a handful of accounts: it checks the
bearer token, validates parameters, applies reading rules, honours Idempotency-Key, and records
every request it gets. Fault injection (`fail_next`, `delay_next`, `down`) lets tests play an
unreliable system. It is written independently of `bot.billing.http` (it only shares the value
types as its storage), so that a misreading of the contract on one side shows up as a failure.

Fixture accounts (today is 2024-08-20, the current period 2024-08):

* `SEVGAS` — sevgas / "001234567" (leading zeros): PIN proof, 3 attempts; one single-zone meter
  "sg-1" (3 decimals, window 15th–25th, one reading a period); overpayment -544.72; receipts
  for 2024-06 and 2024-07, none yet for 2024-08.
* `DAGESTAN` — mrg_dagestan / "5800417263": PIN or surname + last payment (1500.00),
  5 attempts; a two-zone (day/night) meter "dg-7" without decimals; debt 1956.85; receipt 2024-07.
* `CRIMEA` — crimea / unit simferopol / "00456789": surname + last payment "0" (no payment in
  2024), attempts not limited; no meters; no heated area.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from bot.billing.models import (
    AccountRef,
    Balance,
    Charge,
    Equipment,
    LastReading,
    Meter,
    Payment,
    PaymentChannel,
    Period,
    ReadingRecord,
    ReadingSource,
    ReadingState,
)

TOKEN = "fake-billing-token-7Qm2xVt9"
PREFIX = "/gasbot/v1"
TODAY = date(2024, 8, 20)
MSK = timezone(timedelta(hours=3))

SEVGAS = AccountRef("sevgas", "001234567")
SEVGAS_PIN = "4821"
SEVGAS_ATTEMPTS = 3
DAGESTAN = AccountRef("mrg_dagestan", "5800417263")
DAGESTAN_PIN = "7390"
DAGESTAN_SURNAME = "Магомедов"
DAGESTAN_LAST_PAYMENT = Decimal("1500.00")
DAGESTAN_ATTEMPTS = 5
CRIMEA = AccountRef("crimea", "00456789", unit="simferopol")
CRIMEA_SURNAME = "Коваленко"
CRIMEA_LAST_PAYMENT = Decimal("0")
FIXTURE_ACCOUNTS = (SEVGAS, DAGESTAN, CRIMEA)

_PERIOD_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
_QUANTITY_RE = re.compile(r"[0-9]+(\.[0-9]+)?")
_MONEY_RE = re.compile(r"-?[0-9]+(\.[0-9]{1,2})?")
_ERROR_CODES = {
    400: "invalid_request", 401: "unauthorized", 429: "rate_limited", 500: "internal_error",
    502: "unavailable", 503: "unavailable", 504: "unavailable",
}


# --- the data -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadingRules:
    window: tuple[int, int] = (1, 31)  # days of the month, inclusive
    allow_zero: bool = False
    max_consumption: Decimal = Decimal("1000")
    resubmission: bool = False  # may the subscriber replace this period's reading


@dataclass(slots=True)
class FakeAccount:
    ref: AccountRef
    owner_name: str
    owner_masked: str
    address: str
    address_masked: str
    residents: int
    heated_area: Decimal | None
    equipment: tuple[Equipment, ...]
    balances: dict[Period, Balance]
    charges: list[Charge]
    payments: list[Payment]
    receipt_periods: list[Period]
    meters: dict[str, Meter] = field(default_factory=dict)
    history: dict[str, list[ReadingRecord]] = field(default_factory=dict)
    rules: ReadingRules = field(default_factory=ReadingRules)
    pin: str | None = None
    surname: str | None = None
    last_payment: Decimal | None = None
    max_attempts: int | None = None
    failed_attempts: int = 0


def _d(text: str) -> Decimal:
    return Decimal(text)


def _p(text: str) -> Period:
    return Period.parse(text)


def _balance(period: str, opening: str, charged: str, recalculation: str, paid: str,
             closing: str, due: str | None) -> Balance:
    balance = Balance(_p(period), _d(opening), _d(charged), _d(recalculation), _d(paid),
                      _d(closing), date.fromisoformat(due) if due else None)
    # The data set must obey the contract's invariant, or tests would check nonsense.
    assert balance.closing == balance.opening + balance.charged + balance.recalculation \
        - balance.paid, period
    return balance


def _gas(period: str, volume: str, amount: str, recalculation: str = "0.00",
         service: str = "Газоснабжение") -> Charge:
    return Charge(_p(period), service, _d(volume), "м³", _d("7.52"), _d(amount),
                  _d(recalculation))


def _record(meter_id: str, period: str, values: tuple[str, ...], consumption: tuple[str, ...],
            taken_on: str, source: ReadingSource, state: ReadingState) -> ReadingRecord:
    return ReadingRecord(meter_id, _p(period), tuple(map(_d, values)),
                         tuple(map(_d, consumption)), date.fromisoformat(taken_on), source,
                         state)


def _last_of(record: ReadingRecord) -> LastReading:
    return LastReading(record.values, record.taken_on, record.source, record.state)


def build_accounts() -> dict[tuple[str, str], FakeAccount]:
    """A fresh copy of the fixture data set, keyed by (supplier code, account number)."""
    sevgas_history = [
        _record("sg-1", "2024-05", ("12303.380",), ("12.000",), "2024-05-31",
                ReadingSource.ESTIMATE, ReadingState.ACCEPTED),
        _record("sg-1", "2024-06", ("12318.380",), ("15.000",), "2024-06-23",
                ReadingSource.SUBSCRIBER, ReadingState.ACCEPTED),
        _record("sg-1", "2024-07", ("12332.690",), ("14.310",), "2024-07-24",
                ReadingSource.SUBSCRIBER, ReadingState.ACCEPTED),
    ]
    sevgas = FakeAccount(
        ref=SEVGAS,
        owner_name="Петренко Анна Сергеевна",
        owner_masked="Пе****** А. С.",
        address="г. Севастополь, ул. Ленина, д. 10, кв. 15",
        address_masked="г. Севастополь, ул. Л*****, д. **, кв. **",
        residents=3,
        heated_area=_d("54.3"),
        equipment=(Equipment.STOVE, Equipment.WATER_HEATER),
        balances={b.period: b for b in (
            _balance("2024-06", "210.15", "112.80", "0.00", "322.95", "0.00", "2024-07-10"),
            _balance("2024-07", "0.00", "107.61", "0.00", "250.00", "-142.39", "2024-08-10"),
            _balance("2024-08", "-142.39", "97.67", "0.00", "500.00", "-544.72", "2024-09-10"),
        )},
        charges=[
            _gas("2024-06", "15.000", "112.80"),
            _gas("2024-07", "14.310", "107.61"),
            _gas("2024-08", "12.988", "97.67"),
        ],
        payments=[
            Payment(date(2023, 12, 11), _d("300.00"), PaymentChannel.POST, None),
            Payment(date(2024, 6, 5), _d("322.95"), PaymentChannel.BANK, "ПП-118"),
            Payment(date(2024, 7, 8), _d("250.00"), PaymentChannel.ONLINE, "SBP-77120"),
            Payment(date(2024, 8, 12), _d("500.00"), PaymentChannel.TERMINAL, None),
        ],
        receipt_periods=[_p("2024-06"), _p("2024-07")],
        meters={"sg-1": Meter("sg-1", "G4-0417345", ("total",), 5, 3, date(2027, 5, 1),
                              _last_of(sevgas_history[-1]))},
        history={"sg-1": sevgas_history},
        rules=ReadingRules(window=(15, 25), max_consumption=_d("500")),
        pin=SEVGAS_PIN,
        max_attempts=SEVGAS_ATTEMPTS,
    )
    dagestan_history = [
        _record("dg-7", "2024-06", ("27770", "10250"), ("120", "48"), "2024-06-20",
                ReadingSource.SUPPLIER, ReadingState.ACCEPTED),
        _record("dg-7", "2024-07", ("27927", "10311"), ("157", "61"), "2024-07-20",
                ReadingSource.SUBSCRIBER, ReadingState.PENDING),
    ]
    dagestan = FakeAccount(
        ref=DAGESTAN,
        owner_name="Магомедов Рашид Алиевич",
        owner_masked="Ма******* Р. А.",
        address="г. Махачкала, пр. Имама Шамиля, д. 5, кв. 40",
        address_masked="г. Махачкала, пр. И**** Ш*****, д. *, кв. **",
        residents=5,
        heated_area=_d("98.0"),
        equipment=(Equipment.STOVE, Equipment.BOILER),
        balances={b.period: b for b in (
            _balance("2024-07", "1200.00", "1256.85", "0.00", "1500.00", "956.85",
                     "2024-08-10"),
            _balance("2024-08", "956.85", "1023.40", "-23.40", "0.00", "1956.85",
                     "2024-09-10"),
        )},
        charges=[
            _gas("2024-07", "167.134", "1256.85"),
            _gas("2024-08", "136.090", "1023.40", "-23.40"),
        ],
        payments=[Payment(date(2024, 7, 15), _d("1500.00"), PaymentChannel.BANK, "П/П 4411")],
        receipt_periods=[_p("2024-07")],
        meters={"dg-7": Meter("dg-7", "SGMN-1 G6 2231", ("day", "night"), 6, 0, None,
                              _last_of(dagestan_history[-1]))},
        history={"dg-7": dagestan_history},
        rules=ReadingRules(resubmission=True),
        pin=DAGESTAN_PIN,
        surname=DAGESTAN_SURNAME,
        last_payment=DAGESTAN_LAST_PAYMENT,
        max_attempts=DAGESTAN_ATTEMPTS,
    )
    crimea = FakeAccount(
        ref=CRIMEA,
        owner_name="Коваленко Ольга Петровна",
        owner_masked="Ко******* О. П.",
        address="г. Симферополь, ул. Гагарина, д. 7",
        address_masked="г. Симферополь, ул. Г******, д. *",
        residents=2,
        heated_area=None,
        equipment=(Equipment.BOILER, Equipment.STOVE),
        balances={b.period: b for b in (
            _balance("2024-07", "2140.49", "2140.49", "0.00", "0.00", "4280.98", "2024-08-15"),
            _balance("2024-08", "4280.98", "2140.49", "0.00", "0.00", "6421.47", "2024-09-15"),
        )},
        charges=[
            _gas("2024-07", "284.640", "2140.49", service="Газоснабжение (по нормативу)"),
            _gas("2024-08", "284.640", "2140.49", service="Газоснабжение (по нормативу)"),
        ],
        payments=[Payment(date(2023, 11, 2), _d("2140.49"), PaymentChannel.CASH, None)],
        receipt_periods=[_p("2024-07")],
        surname=CRIMEA_SURNAME,
        last_payment=CRIMEA_LAST_PAYMENT,
    )
    return {(a.ref.supplier_code, a.ref.number): a for a in (sevgas, dagestan, crimea)}


# --- JSON of the contract ---------------------------------------------------------------------


def _text(value: Decimal) -> str:
    return format(value, "f")


def _balance_json(balance: Balance) -> dict[str, Any]:
    return {
        "period": str(balance.period),
        "opening": _text(balance.opening),
        "charged": _text(balance.charged),
        "recalculation": _text(balance.recalculation),
        "paid": _text(balance.paid),
        "closing": _text(balance.closing),
        "due_date": balance.due_date.isoformat() if balance.due_date else None,
    }


def _charge_json(charge: Charge) -> dict[str, Any]:
    return {
        "period": str(charge.period),
        "service": charge.service,
        "volume": _text(charge.volume),
        "unit": charge.unit,
        "tariff": _text(charge.tariff),
        "amount": _text(charge.amount),
        "recalculation": _text(charge.recalculation),
    }


def _payment_json(payment: Payment) -> dict[str, Any]:
    return {
        "paid_on": payment.paid_on.isoformat(),
        "amount": _text(payment.amount),
        "channel": payment.channel.value,
        "reference": payment.reference,
    }


def _meter_json(meter: Meter) -> dict[str, Any]:
    last = None
    if meter.last is not None:
        last = {
            "values": [_text(v) for v in meter.last.values],
            "taken_on": meter.last.taken_on.isoformat(),
            "source": meter.last.source.value,
            "state": meter.last.state.value,
        }
    return {
        "id": meter.id,
        "serial": meter.serial,
        "service": meter.service,
        "zones": list(meter.zones),
        "capacity": meter.capacity,
        "decimals": meter.decimals,
        "check_date": meter.check_date.isoformat() if meter.check_date else None,
        "last": last,
    }


def _record_json(record: ReadingRecord) -> dict[str, Any]:
    return {
        "meter_id": record.meter_id,
        "period": str(record.period),
        "values": [_text(v) for v in record.values],
        "consumption": [_text(v) for v in record.consumption],
        "taken_on": record.taken_on.isoformat(),
        "source": record.source.value,
        "state": record.state.value,
    }


# --- the server -------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"code": code, "message": message, **extra}}


def _error_response(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **extra}},
                             status=status)


@dataclass(slots=True)
class LoggedRequest:
    """One request as the server saw it. In memory only: it holds account numbers."""

    method: str
    route: str | None  # the path template relative to the prefix; None when no route matched
    path: str
    path_params: dict[str, str]
    query: dict[str, str]
    idempotency_key: str | None
    authorized: bool
    request_json: Any = None
    status: int | None = None
    response_json: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Fault:
    status: int
    retry_after: str | None
    after_processing: bool


@dataclass(frozen=True, slots=True)
class _Outcome:
    fingerprint: tuple[str, ...]
    status: int
    body: dict[str, Any]


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeBillingServer:
    """The billing API on 127.0.0.1 with a free port; see the module docstring for the data.

    Fault injection applies to the next requests in arrival order, whatever the route:
    `fail_next(n, status)` answers them with `status` (by default before touching any state; with
    `after_processing=True` the request is carried out and only the answer is lost, as when a
    proxy times out), `delay_next(n, seconds)` holds their answers back, `down = True` answers
    every request with 503.
    """

    def __init__(self, *, token: str | None = TOKEN, today: date = TODAY,
                 prefix: str = PREFIX) -> None:
        self.token = token
        self.today = today
        self.prefix = prefix
        self.accounts = build_accounts()
        self.requests: list[LoggedRequest] = []
        self.readings_created = 0
        self.down = False
        self._faults: deque[_Fault] = deque()
        self._delays: deque[float] = deque()
        self._outcomes: dict[str, _Outcome] = {}
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self.app = self._build_app()

    # --- lifecycle ---

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}{self.prefix}"
        return self._base_url

    async def stop(self) -> None:
        self._stopping.set()  # releases delayed answers at once
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the server is not started")
        return self._base_url

    # --- knobs ---

    def fail_next(self, n: int = 1, status: int = 503, *, retry_after: str | None = None,
                  after_processing: bool = False) -> None:
        self._faults.extend(_Fault(status, retry_after, after_processing) for _ in range(n))

    def delay_next(self, n: int, seconds: float) -> None:
        self._delays.extend(seconds for _ in range(n))

    def routes(self) -> set[tuple[str, str]]:
        """(method, path template) of every route served, read back from the router itself."""
        found = set()
        for route in self.app.router.routes():
            resource = route.resource
            assert resource is not None
            template = resource.canonical
            assert template.startswith(self.prefix)
            found.add((route.method, template[len(self.prefix):]))
        return found

    def calls(self, method: str, route: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.method == method and r.route == route]

    def account(self, ref: AccountRef) -> FakeAccount:
        return self.accounts[(ref.supplier_code, ref.number)]

    # --- plumbing ---

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        account = self.prefix + "/suppliers/{supplier_code}/accounts/{account_number}"
        app.router.add_get(account, self._find_account, allow_head=False)
        app.router.add_post(account + "/ownership-verifications", self._verify_ownership)
        app.router.add_get(account + "/balance", self._balance, allow_head=False)
        app.router.add_get(account + "/payments", self._payments, allow_head=False)
        app.router.add_get(account + "/charges", self._charges, allow_head=False)
        app.router.add_get(account + "/details", self._details, allow_head=False)
        app.router.add_get(account + "/meters", self._meters, allow_head=False)
        app.router.add_post(account + "/meters/{meter_id}/readings", self._submit_reading)
        app.router.add_get(account + "/meters/{meter_id}/readings", self._readings,
                           allow_head=False)
        app.router.add_get(account + "/receipts", self._receipt_periods, allow_head=False)
        app.router.add_get(account + "/receipts/{period}", self._receipt, allow_head=False)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        template = resource.canonical if resource is not None else None
        if template is not None and template.startswith(self.prefix):
            template = template[len(self.prefix):]
        body: Any = None
        if request.can_read_body:
            try:
                body = json.loads(await request.read())
            except ValueError:
                body = "<not JSON>"
        entry = LoggedRequest(
            method=request.method,
            route=template,
            path=request.raw_path,
            path_params=dict(request.match_info),
            query=dict(request.query),
            idempotency_key=request.headers.get("Idempotency-Key"),
            authorized=self._authorized(request),
            request_json=body,
        )
        self.requests.append(entry)
        try:
            response = await self._respond(request, handler, entry)
        except web.HTTPException as exc:
            entry.status = exc.status
            raise
        entry.status = response.status
        if isinstance(response, web.Response) and response.body is not None \
                and response.content_type == "application/json":
            assert isinstance(response.body, bytes)
            entry.response_json = json.loads(response.body)
        entry.response_headers = dict(response.headers)
        return response

    async def _respond(self, request: web.Request, handler: Handler,
                       entry: LoggedRequest) -> web.StreamResponse:
        if self.down:
            return _error_response(503, "unavailable", "Billing system under maintenance")
        fault = self._faults.popleft() if self._faults else None
        if fault is not None and not fault.after_processing:
            return self._fault_response(fault)
        if not entry.authorized:
            denied = _error_response(401, "unauthorized", "Missing or unknown bearer token")
            denied.headers["WWW-Authenticate"] = "Bearer"
            return denied
        response: web.StreamResponse
        try:
            response = await handler(request)
        except ApiError as exc:
            response = web.json_response(exc.body, status=exc.status)
        if fault is not None:
            return self._fault_response(fault)
        if self._delays:
            delay = self._delays.popleft()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        return response

    def _authorized(self, request: web.Request) -> bool:
        if self.token is None:
            return True
        given = request.headers.get("Authorization", "")
        return secrets.compare_digest(given.encode(), f"Bearer {self.token}".encode())

    @staticmethod
    def _fault_response(fault: _Fault) -> web.Response:
        if fault.status in (502, 504):
            # What a reverse proxy sends: HTML, not the contract's error body.
            return web.Response(status=fault.status, content_type="text/html",
                                text="<html><body><h1>Gateway error</h1></body></html>")
        code = _ERROR_CODES.get(fault.status, "internal_error")
        response = _error_response(fault.status, code, "Injected failure")
        if fault.retry_after is not None:
            response.headers["Retry-After"] = fault.retry_after
        return response

    # --- request parsing ---

    def _account(self, request: web.Request) -> FakeAccount:
        supplier = request.match_info["supplier_code"]
        number = request.match_info["account_number"]
        if supplier not in {code for code, _ in self.accounts}:
            raise ApiError(404, "supplier_not_found", "Unknown supplier code")
        account = self.accounts.get((supplier, number))
        unit = request.query.get("unit")
        if account is None or (unit is not None and account.ref.unit is not None
                               and unit != account.ref.unit):
            raise ApiError(404, "account_not_found", "No account with this number")
        return account

    @staticmethod
    def _period(value: str | None, name: str) -> Period:
        if value is None or _PERIOD_RE.fullmatch(value) is None:
            raise ApiError(400, "invalid_request", f"'{name}' must be a period YYYY-MM")
        return Period.parse(value)

    def _range(self, request: web.Request) -> tuple[Period, Period]:
        start = self._period(request.query.get("from"), "from")
        end = self._period(request.query.get("to"), "to")
        if start > end:
            raise ApiError(400, "invalid_request", "'from' is after 'to'")
        return start, end

    @staticmethod
    async def _json_object(request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise ApiError(400, "invalid_request", "The body is not JSON") from None
        if not isinstance(body, dict):
            raise ApiError(400, "invalid_request", "The body must be an object")
        return body

    @property
    def current_period(self) -> Period:
        return Period.of(self.today)

    # --- handlers ---

    async def _find_account(self, request: web.Request) -> web.Response:
        account = self._account(request)
        return web.json_response({
            "supplier_code": account.ref.supplier_code,
            "account_number": account.ref.number,
            "unit": account.ref.unit,
            "owner_masked": account.owner_masked,
            "address_masked": account.address_masked,
            "has_meters": bool(account.meters),
        })

    async def _verify_ownership(self, request: web.Request) -> web.Response:
        account = self._account(request)
        body = await self._json_object(request)
        kind = body.get("kind")
        if kind == "pin" and account.pin is not None:
            pin = body.get("pin")
            if not isinstance(pin, str):
                raise ApiError(400, "invalid_request", "'pin' must be a string")
            correct = secrets.compare_digest(pin.encode(), account.pin.encode())
        elif kind == "surname_payment" and account.surname is not None:
            surname, amount = body.get("surname"), body.get("last_payment")
            if not isinstance(surname, str) or not isinstance(amount, str) \
                    or _MONEY_RE.fullmatch(amount) is None:
                raise ApiError(400, "invalid_request", "'surname' and 'last_payment' expected")
            correct = (_fold(surname) == _fold(account.surname)
                       and Decimal(amount) == account.last_payment)
        else:
            raise ApiError(400, "invalid_request", "Proof kind not accepted for this account")
        limit = account.max_attempts
        if limit is not None and account.failed_attempts >= limit:
            raise ApiError(403, "proof_rejected", "Locked: call the supplier", attempts_left=0)
        if correct:
            account.failed_attempts = 0
            return web.Response(status=204)
        account.failed_attempts += 1
        left = None if limit is None else limit - account.failed_attempts
        raise ApiError(403, "proof_rejected", "The proof does not match", attempts_left=left)

    async def _balance(self, request: web.Request) -> web.Response:
        account = self._account(request)
        raw = request.query.get("period")
        period = self.current_period if raw is None else self._period(raw, "period")
        balance = account.balances.get(period)
        if balance is None:
            raise ApiError(400, "invalid_request", "No settlement for this period")
        return web.json_response(_balance_json(balance))

    async def _payments(self, request: web.Request) -> web.Response:
        account = self._account(request)
        raw = request.query.get("year", "")
        if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
            raise ApiError(400, "invalid_request", "'year' must be a year")
        year = int(raw)
        return web.json_response({"payments": [
            _payment_json(p) for p in account.payments if p.paid_on.year == year
        ]})

    async def _charges(self, request: web.Request) -> web.Response:
        account = self._account(request)
        start, end = self._range(request)
        charges = sorted((c for c in account.charges if start <= c.period <= end),
                         key=lambda c: c.period)
        return web.json_response({"charges": [_charge_json(c) for c in charges]})

    async def _details(self, request: web.Request) -> web.Response:
        account = self._account(request)
        return web.json_response({
            "owner_name": account.owner_name,
            "address": account.address,
            "residents": account.residents,
            "heated_area": _text(account.heated_area) if account.heated_area is not None else None,
            "equipment": [e.value for e in account.equipment],
        })

    async def _meters(self, request: web.Request) -> web.Response:
        account = self._account(request)
        return web.json_response({"meters": [_meter_json(m) for m in account.meters.values()]})

    async def _readings(self, request: web.Request) -> web.Response:
        account = self._account(request)
        meter_id = request.match_info["meter_id"]
        start, end = self._range(request)
        if meter_id not in account.meters:
            raise ApiError(404, "meter_not_found", "No such meter on the account")
        records = [r for r in account.history.get(meter_id, []) if start <= r.period <= end]
        return web.json_response({"readings": [_record_json(r) for r in records]})

    async def _receipt_periods(self, request: web.Request) -> web.Response:
        account = self._account(request)
        periods = sorted(account.receipt_periods, reverse=True)
        return web.json_response({"periods": [str(p) for p in periods]})

    async def _receipt(self, request: web.Request) -> web.Response:
        account = self._account(request)
        period = self._period(request.match_info["period"], "period")
        if period not in account.receipt_periods:
            raise ApiError(404, "receipt_not_available", f"No receipt for {period}")
        lines = []
        for meter in account.meters.values():
            history = sorted(account.history.get(meter.id, []), key=lambda r: r.period)
            current = next((r for r in history if r.period == period), None)
            previous = next((r for r in reversed(history) if r.period < period), None)
            if current is None or previous is None:
                continue
            for zone, before, now, used in zip(meter.zones, previous.values, current.values,
                                               current.consumption, strict=True):
                lines.append({
                    "serial": meter.serial,
                    "zone": zone,
                    "previous": _text(before),
                    "current": _text(now),
                    "consumption": _text(used),
                    "check_date": meter.check_date.isoformat() if meter.check_date else None,
                })
        return web.json_response({
            "supplier_code": account.ref.supplier_code,
            "account_number": account.ref.number,
            "unit": account.ref.unit,
            "period": str(period),
            "payer_name": account.owner_name,
            "address": account.address,
            "residents": account.residents,
            "heated_area": _text(account.heated_area) if account.heated_area is not None else None,
            "balance": _balance_json(account.balances[period]),
            "charges": [_charge_json(c) for c in account.charges if c.period == period],
            "payments": [_payment_json(p) for p in account.payments
                         if Period.of(p.paid_on) == period],
            "meters": lines,
        })

    async def _submit_reading(self, request: web.Request) -> web.Response:
        account = self._account(request)
        key = request.headers.get("Idempotency-Key")
        if key is None or not 8 <= len(key) <= 128:
            raise ApiError(400, "invalid_request", "Idempotency-Key header required")
        body = await self._json_object(request)
        values = body.get("values")
        submitted_at = body.get("submitted_at")
        if not isinstance(values, list) or not values or not all(
                isinstance(v, str) and _QUANTITY_RE.fullmatch(v) for v in values):
            raise ApiError(400, "invalid_request", "'values' must be decimal strings")
        try:
            moment = datetime.fromisoformat(submitted_at) if isinstance(submitted_at, str) \
                else None
        except ValueError:
            moment = None
        if moment is None or moment.tzinfo is None:
            raise ApiError(400, "invalid_request", "'submitted_at' must be an RFC 3339 instant")
        meter_id = request.match_info["meter_id"]
        fingerprint = (account.ref.supplier_code, account.ref.number, meter_id, *values)
        stored = self._outcomes.get(key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise ApiError(409, "idempotency_conflict", "Key used for another submission")
            response = web.json_response(stored.body, status=stored.status)
            response.headers["Idempotent-Replayed"] = "true"
            return response
        try:
            status, result = 201, self._record_reading(account, meter_id, values)
        except ApiError as exc:
            status, result = exc.status, exc.body
        self._outcomes[key] = _Outcome(fingerprint, status, result)
        return web.json_response(result, status=status)

    def _record_reading(self, account: FakeAccount, meter_id: str,
                        texts: list[str]) -> dict[str, Any]:
        def reject(reason: str, message: str) -> ApiError:
            return ApiError(422, "reading_rejected", message, reason=reason)

        meter = account.meters.get(meter_id)
        if meter is None:
            raise reject("meter_not_found", "No such meter on the account")
        if len(texts) != len(meter.zones):
            raise reject("invalid", f"Expected {len(meter.zones)} value(s)")
        start, end = account.rules.window
        if not start <= self.today.day <= end:
            raise reject("out_of_window", f"Readings are accepted from day {start} to {end}")
        try:
            values = tuple(Decimal(t) for t in texts)
        except InvalidOperation:
            raise reject("invalid", "Not a number") from None
        for text in texts:
            integer, _, fraction = text.partition(".")
            if len(integer.lstrip("0")) > meter.capacity:
                raise reject("too_many_digits", f"At most {meter.capacity} integer digits")
            if len(fraction.rstrip("0")) > meter.decimals:
                raise reject("decimals_not_allowed", f"At most {meter.decimals} decimals")
        if not account.rules.allow_zero and all(v == 0 for v in values):
            raise reject("zero_not_allowed", "A zero reading is not accepted")
        period = self.current_period
        history = account.history.setdefault(meter_id, [])
        prior = [r for r in history if r.period < period]
        previous = prior[-1].values if prior else tuple(Decimal(0) for _ in values)
        if any(v < p for v, p in zip(values, previous, strict=True)):
            raise reject("less_than_previous", "Lower than the previous reading")
        consumption = tuple(v - p for v, p in zip(values, previous, strict=True))
        if any(c > account.rules.max_consumption for c in consumption):
            raise reject("too_high", "Consumption above the supplier's maximum")
        existing = [r for r in history if r.period == period
                    and r.source is ReadingSource.SUBSCRIBER]
        if existing and not account.rules.resubmission:
            raise reject("already_submitted", "This period already has a reading")

        self.readings_created += 1
        accepted_at = datetime.combine(self.today, time(10, 0), MSK) \
            + timedelta(minutes=self.readings_created)
        record = ReadingRecord(meter_id, period, values, consumption, self.today,
                               ReadingSource.SUBSCRIBER, ReadingState.PENDING)
        history[:] = [r for r in history if r not in existing] + [record]
        account.meters[meter_id] = replace(meter, last=_last_of(record))
        return {
            "reference": f"R-{self.readings_created:06d}",
            "accepted_at": accepted_at.isoformat(),
            "values": texts,
            "state": ReadingState.PENDING.value,
        }


def _fold(text: str) -> str:
    return text.strip().casefold().replace("ё", "е")


__all__ = [
    "CRIMEA",
    "DAGESTAN",
    "FIXTURE_ACCOUNTS",
    "PREFIX",
    "SEVGAS",
    "TODAY",
    "TOKEN",
    "ApiError",
    "FakeAccount",
    "FakeBillingServer",
    "LoggedRequest",
    "ReadingRules",
    "build_accounts",
]

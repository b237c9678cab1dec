"""The linking and accounts services: cooldown, limits, a race for the last slot, the demo
accounts, and what the tables keep."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.app import Runtime, open_runtime
from bot.billing.base import BillingConnector
from bot.billing.errors import ProofRejected
from bot.billing.models import AccountInfo, AccountRef, Proof, ProofKind
from bot.db.models import User
from bot.db.models_accounts import LinkAttempt, LinkedAccount
from bot.db.repositories.users import UserRepository
from bot.services import Services
from bot.services.accounts import InvalidAlias, normalize_alias
from bot.services.linking import (
    COOLDOWN_WINDOW,
    AlreadyLinked,
    InvalidPayment,
    InvalidPin,
    InvalidSurname,
    LimitReached,
    LimitScope,
    LinkCooldown,
    SupplierLocked,
    WrongProof,
    normalize_pin,
    normalize_surname,
    parse_payment,
)
from bot.suppliers.loader import load_catalog
from bot.suppliers.models import ConnectorKind
from tests.conftest import make_settings
from tests.support.leaks import remember
from tests.test_linking import Clock, FakeBilling

START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
PERM = "mrg_perm"
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Env:
    runtime: Runtime
    clock: Clock

    def services(self, session: Any) -> Services:
        return Services(session, self.runtime.app)

    async def user(self, user_id: int) -> int:
        async with self.runtime.app.session_factory() as session:
            repo = UserRepository(session)
            user = await repo.set_language(user_id, "ru")
            await repo.give_consent(user, "v1", START)
            await repo.mark_registered(user, START)
        return user_id

    async def run(self, call: Any) -> Any:
        """Run `call(services)` on a session of its own, like one update does."""
        async with self.runtime.app.session_factory() as session:
            return await call(self.services(session))

    async def link(self, user_id: int, ref: AccountRef, proof: Proof) -> LinkedAccount:
        return await self.run(  # type: ignore[no-any-return]
            lambda s: s.linking.link(user_id, ref, proof))

    async def rows(self, model: Any) -> list[Any]:
        async with self.runtime.app.session_factory() as session:
            return list(await session.scalars(select(model).order_by(model.id)))


@asynccontextmanager
async def opened(url: str, **overrides: Any) -> AsyncIterator[Env]:
    async with AsyncExitStack() as stack:
        runtime = await open_runtime(make_settings(url, **overrides), stack)
        clock = Clock(START)
        runtime.app.clock = clock
        yield Env(runtime, clock)


@pytest.fixture
async def env(sqlite_url: str) -> AsyncIterator[Env]:
    async with opened(sqlite_url) as value:
        yield value


def fake(env: Env) -> FakeBilling:
    billing = FakeBilling()
    for code in env.runtime.app.catalog.codes:
        env.runtime.app.billing.override(code, cast(BillingConnector, billing))
    return billing


def pin(value: str) -> Proof:
    return Proof(ProofKind.PIN, pin=value)


# --- the cooldown ------------------------------------------------------------------------


async def test_five_failures_lock_the_account_for_everybody_for_an_hour(env: Env) -> None:
    billing = fake(env)
    billing.add(PERM, "59000001", pin="1234")
    ref = AccountRef(PERM, "59000001")
    alice, bob = await env.user(1), await env.user(2)
    left = []
    for minute in range(4):
        env.clock.now = START + timedelta(minutes=minute)
        with pytest.raises(WrongProof) as wrong:
            await env.link(alice, ref, pin("0000"))
        left.append(wrong.value.attempts_left)
    assert left == [4, 3, 2, 1]
    env.clock.now = START + timedelta(minutes=10)
    with pytest.raises(LinkCooldown) as locked:
        await env.link(alice, ref, pin("0000"))
    until = START + timedelta(minutes=10) + COOLDOWN_WINDOW
    assert locked.value.until == until

    # Nobody gets through meanwhile: not the owner with the right PIN, not another user,
    # and the supplier is not even asked.
    calls = len(billing.calls)
    env.clock.now = until - timedelta(seconds=1)
    for user_id in (alice, bob):
        with pytest.raises(LinkCooldown):
            await env.link(user_id, ref, pin("1234"))
        with pytest.raises(LinkCooldown):
            await env.run(lambda s, u=user_id: s.linking.lookup(u, ref))
    assert len(billing.calls) == calls

    env.clock.now = until
    account = await env.link(bob, ref, pin("1234"))
    assert account.user_id == bob and account.number == "59000001"


async def test_after_the_cooldown_the_count_starts_afresh(env: Env) -> None:
    billing = fake(env)
    billing.add(PERM, "59000001", pin="1234")
    ref = AccountRef(PERM, "59000001")
    alice = await env.user(1)
    for _ in range(4):
        with pytest.raises(WrongProof):
            await env.link(alice, ref, pin("0000"))
    with pytest.raises(LinkCooldown):
        await env.link(alice, ref, pin("0000"))
    env.clock.now = START + COOLDOWN_WINDOW
    with pytest.raises(WrongProof) as wrong:
        await env.link(alice, ref, pin("0000"))
    assert wrong.value.attempts_left == 4


async def test_failures_spread_over_more_than_an_hour_do_not_lock(env: Env) -> None:
    billing = fake(env)
    billing.add(PERM, "59000001", pin="1234")
    ref = AccountRef(PERM, "59000001")
    alice = await env.user(1)
    for minute in (0, 20, 40, 59):
        env.clock.now = START + timedelta(minutes=minute)
        with pytest.raises(WrongProof):
            await env.link(alice, ref, pin("0000"))
    env.clock.now = START + timedelta(minutes=61)
    with pytest.raises(WrongProof) as wrong:
        await env.link(alice, ref, pin("0000"))
    assert wrong.value.attempts_left == 1  # the failures at 20, 40, 59 and 61 count


async def test_a_success_clears_the_failures_before_it(env: Env) -> None:
    billing = fake(env)
    billing.add(PERM, "59000001", pin="1234")
    ref = AccountRef(PERM, "59000001")
    alice, bob = await env.user(1), await env.user(2)
    for _ in range(4):
        with pytest.raises(WrongProof):
            await env.link(alice, ref, pin("0000"))
    await env.link(alice, ref, pin("1234"))
    with pytest.raises(WrongProof) as wrong:
        await env.link(bob, ref, pin("0000"))
    assert wrong.value.attempts_left == 4


async def test_attempts_keep_a_keyed_hash_not_the_number(env: Env) -> None:
    billing = fake(env)
    billing.add(PERM, "59000001", pin="1234")
    billing.add("crimea", "123456789", unit="yalta", surname="Иванова",
                payment=Decimal("0"))
    billing.add("crimea", "123456789", unit="kerch", surname="Петрова",
                payment=Decimal("0"))
    alice = await env.user(1)
    with pytest.raises(WrongProof):
        await env.link(alice, AccountRef(PERM, "59000001"), pin("0000"))
    for unit in ("yalta", "kerch"):
        await env.link(alice, AccountRef("crimea", "123456789", unit),
                       Proof(ProofKind.SURNAME_PAYMENT, surname="иванова" if unit == "yalta"
                             else "ПЕТРОВА", last_payment=Decimal("0")))
    attempts = await env.rows(LinkAttempt)
    assert [a.success for a in attempts] == [False, True, True]
    keys = {a.account_key for a in attempts}
    assert len(keys) == 3, "the unit is part of the account's identity"
    for attempt in attempts:
        assert len(attempt.account_key) == 64
        assert "59000001" not in attempt.account_key and "123456789" not in attempt.account_key
    # Unkeyed hashes of the number would be reversible by trying every number.
    import hashlib
    plain = {hashlib.sha256(n.encode()).hexdigest() for n in ("59000001", "123456789")}
    assert not keys & plain


async def test_old_attempts_are_forgotten(env: Env) -> None:
    billing = fake(env)
    billing.add(PERM, "59000001", pin="1234")
    ref = AccountRef(PERM, "59000001")
    alice = await env.user(1)
    with pytest.raises(WrongProof):
        await env.link(alice, ref, pin("0000"))
    env.clock.now = START + 3 * COOLDOWN_WINDOW
    with pytest.raises(WrongProof):
        await env.link(alice, ref, pin("0000"))
    assert [a.at for a in await env.rows(LinkAttempt)] == [env.clock.now]


async def test_a_supplier_that_locked_the_account_itself(env: Env) -> None:
    billing = fake(env)
    billing.add(PERM, "59000001", pin="1234")

    async def locked(ref: AccountRef, proof: Proof) -> None:
        raise ProofRejected(attempts_left=0)

    billing.verify_ownership = locked  # type: ignore[method-assign]
    with pytest.raises(SupplierLocked):
        await env.link(await env.user(1), AccountRef(PERM, "59000001"), pin("1234"))


async def test_the_supplier_counter_is_shown_when_it_is_stricter(env: Env) -> None:
    billing = fake(env)
    billing.add(PERM, "59000001", pin="1234")

    async def strict(ref: AccountRef, proof: Proof) -> None:
        raise ProofRejected(attempts_left=2)

    billing.verify_ownership = strict  # type: ignore[method-assign]
    with pytest.raises(WrongProof) as wrong:
        await env.link(await env.user(1), AccountRef(PERM, "59000001"), pin("0000"))
    assert wrong.value.attempts_left == 2


# --- limits and duplicates -------------------------------------------------------------------


async def test_supplier_and_total_limits(sqlite_url: str) -> None:
    async with opened(sqlite_url, max_accounts_per_user=4) as env:
        billing = fake(env)
        for n in range(1, 5):
            billing.add(PERM, f"5900000{n}", pin="1")
        billing.add("mrg_moscow", "5000000001", pin="1")
        billing.add("mrg_moscow", "5000000002", pin="1")
        alice = await env.user(1)
        perm = env.runtime.app.catalog.get(PERM)
        for n in range(1, 4):
            await env.run(lambda s: s.linking.ensure_room(alice, perm))
            await env.link(alice, AccountRef(PERM, f"5900000{n}"), pin("1"))
        with pytest.raises(LimitReached) as full:
            await env.run(lambda s: s.linking.ensure_room(alice, perm))
        assert (full.value.scope, full.value.limit) == (LimitScope.SUPPLIER, 3)
        with pytest.raises(LimitReached) as full:
            await env.link(alice, AccountRef(PERM, "59000004"), pin("1"))
        assert full.value.scope is LimitScope.SUPPLIER
        assert billing.calls.count("verify") == 3, "a refused link spends no attempt"

        await env.link(alice, AccountRef("mrg_moscow", "5000000001"), pin("1"))
        with pytest.raises(LimitReached) as full:
            await env.run(lambda s: s.linking.ensure_room(alice))
        assert (full.value.scope, full.value.limit) == (LimitScope.TOTAL, 4)
        with pytest.raises(LimitReached):
            await env.link(alice, AccountRef("mrg_moscow", "5000000002"), pin("1"))
        # Another user has all the room in the world.
        await env.link(await env.user(2), AccountRef(PERM, "59000004"), pin("1"))


async def test_the_final_link_checks_the_limit_again(env: Env) -> None:
    """The early checks passed, then another conversation took the last slot."""
    billing = fake(env)
    for n in range(1, 5):
        billing.add(PERM, f"5900000{n}", pin="1")
    alice = await env.user(1)
    for n in range(1, 3):
        await env.link(alice, AccountRef(PERM, f"5900000{n}"), pin("1"))
    original = billing.verify_ownership

    async def meanwhile(ref: AccountRef, proof: Proof) -> None:
        await original(ref, proof)
        if ref.number == "59000004":
            await env.link(alice, AccountRef(PERM, "59000003"), pin("1"))

    billing.verify_ownership = meanwhile  # type: ignore[method-assign]
    with pytest.raises(LimitReached):
        await env.link(alice, AccountRef(PERM, "59000004"), pin("1"))
    assert [a.number for a in await env.rows(LinkedAccount)] == [
        "59000001", "59000002", "59000003"]


async def test_two_concurrent_links_for_the_last_slot(db_url: str) -> None:
    async with opened(db_url, max_accounts_per_user=2) as env:
        billing = fake(env)
        for n in range(1, 4):
            billing.add(PERM, f"5900000{n}", pin="1")
        alice = await env.user(1)
        await env.link(alice, AccountRef(PERM, "59000001"), pin("1"))
        both_verified = asyncio.Barrier(2)
        original = billing.verify_ownership

        async def together(ref: AccountRef, proof: Proof) -> None:
            await original(ref, proof)
            # Both conversations pass every early check before either writes.
            await both_verified.wait()

        billing.verify_ownership = together  # type: ignore[method-assign]
        results = await asyncio.gather(
            env.link(alice, AccountRef(PERM, "59000002"), pin("1")),
            env.link(alice, AccountRef(PERM, "59000003"), pin("1")),
            return_exceptions=True,
        )
        linked = [r for r in results if isinstance(r, LinkedAccount)]
        refused = [r for r in results if isinstance(r, LimitReached)]
        assert len(linked) == 1 and len(refused) == 1, results
        rows = await env.rows(LinkedAccount)
        assert len(rows) == 2
        assert [r.is_default for r in rows] == [True, False]


async def test_two_concurrent_first_links_make_one_default(env: Env) -> None:
    billing = fake(env)
    billing.add(PERM, "59000001", pin="1")
    billing.add(PERM, "59000002", pin="1")
    alice = await env.user(1)
    await asyncio.gather(env.link(alice, AccountRef(PERM, "59000001"), pin("1")),
                         env.link(alice, AccountRef(PERM, "59000002"), pin("1")))
    assert sorted(r.is_default for r in await env.rows(LinkedAccount)) == [False, True]


async def test_duplicates_and_families(env: Env) -> None:
    billing = fake(env)
    billing.add("sevgas", "001234567", pin="secret")
    ref = AccountRef("sevgas", "001234567")
    alice, bob = await env.user(1), await env.user(2)
    await env.link(alice, ref, pin("secret"))
    with pytest.raises(AlreadyLinked):
        await env.link(alice, ref, pin("secret"))
    with pytest.raises(AlreadyLinked):
        await env.run(lambda s: s.linking.lookup(alice, ref))
    # A family: the same account in two users' lists, each their own default.
    await env.link(bob, ref, pin("secret"))
    rows = await env.rows(LinkedAccount)
    assert [(r.user_id, r.number, r.is_default) for r in rows] == [
        (1, "001234567", True), (2, "001234567", True)]
    # The unique index stands behind the service, units or not.
    async with env.runtime.app.session_factory() as session:
        session.add(LinkedAccount(user_id=alice, supplier_code="sevgas", number="001234567",
                                  owner_masked="x", address_masked="y", linked_at=START))
        with pytest.raises(IntegrityError):
            await session.commit()


async def test_deleting_the_user_removes_their_accounts_and_keeps_the_cooldown(
        env: Env) -> None:
    billing = fake(env)
    billing.add(PERM, "59000001", pin="1")
    billing.add(PERM, "59000002", pin="1")
    alice = await env.user(1)
    await env.link(alice, AccountRef(PERM, "59000001"), pin("1"))
    for _ in range(4):
        with pytest.raises(WrongProof):
            await env.link(alice, AccountRef(PERM, "59000002"), pin("0"))
    await env.run(lambda s: s.users.delete_all_data(alice))
    assert await env.rows(LinkedAccount) == []
    attempts = await env.rows(LinkAttempt)
    assert len(attempts) == 5 and {a.user_id for a in attempts} == {None}
    # Deleting and registering again does not reset the count.
    alice = await env.user(1)
    with pytest.raises(LinkCooldown):
        await env.link(alice, AccountRef(PERM, "59000002"), pin("0"))


# --- the accounts service ------------------------------------------------------------------


async def test_rename_default_and_unlink(env: Env) -> None:
    billing = fake(env)
    for n in range(1, 4):
        billing.add(PERM, f"5900000{n}", pin="1")
    alice = await env.user(1)
    first, second, third = [await env.link(alice, AccountRef(PERM, f"5900000{n}"), pin("1"))
                            for n in range(1, 4)]
    assert [first.is_default, second.is_default, third.is_default] == [True, False, False]

    renamed = await env.run(lambda s: s.accounts.rename(alice, second.id, "  Дача   мамы "))
    assert renamed.alias == "Дача мамы"
    await env.run(lambda s: s.accounts.make_default(alice, third.id))
    default = await env.run(lambda s: s.accounts.default(alice))
    assert default.id == third.id
    assert [r.is_default for r in await env.rows(LinkedAccount)] == [False, False, True]

    successor = await env.run(lambda s: s.accounts.unlink(alice, third.id))
    assert successor.id == first.id
    assert [(r.id, r.is_default) for r in await env.rows(LinkedAccount)] == [
        (first.id, True), (second.id, False)]
    assert await env.run(lambda s: s.accounts.unlink(alice, second.id)) is None
    # Someone else's account id, or one already gone, is refused.
    bob = await env.user(2)
    from bot.services.accounts import AccountGone
    with pytest.raises(AccountGone):
        await env.run(lambda s: s.accounts.unlink(bob, first.id))
    with pytest.raises(AccountGone):
        await env.run(lambda s: s.accounts.rename(alice, second.id, "x"))


@pytest.mark.parametrize(("raw", "expected"), [
    ("Дом", "Дом"), ("  a  b ", "a b"), ("x" * 32, "x" * 32), ("<b>Дача</b>", "<b>Дача</b>"),
    ("Дача\u200b\u0007", "Дача"),
])
def test_alias_rules(raw: str, expected: str) -> None:
    assert normalize_alias(raw) == expected


@pytest.mark.parametrize(("raw", "reason"), [("", "empty"), ("   ", "empty"),
                                             ("x" * 33, "too_long"), ("\u200b", "empty")])
def test_bad_aliases(raw: str, reason: str) -> None:
    with pytest.raises(InvalidAlias) as bad:
        normalize_alias(raw)
    assert bad.value.reason == reason


# --- what the user types at the proof steps ------------------------------------------------


@pytest.mark.parametrize(("raw", "amount"), [
    ("0", "0.00"), ("1250,50", "1250.50"), ("1250.5", "1250.50"), ("1 250,50", "1250.50"),
    ("1\u00a0617,72 ₽", "1617.72"), ("500 руб.", "500.00"), ("  42 ", "42.00"),
])
def test_payment_amounts(raw: str, amount: str) -> None:
    assert parse_payment(raw) == Decimal(amount)


def test_payment_amounts_grouped_the_english_way() -> None:
    """The bot writes «1,433.25 ₽» in English; a trial copied it back and was refused."""
    assert parse_payment("1,433.25") == Decimal("1433.25")
    assert parse_payment("1,433.25 ₽", comma_groups=True) == Decimal("1433.25")
    assert parse_payment("1,433", comma_groups=True) == Decimal("1433.00")
    assert parse_payment("14,33", comma_groups=True) == Decimal("14.33")  # a decimal comma
    with pytest.raises(InvalidPayment):
        parse_payment("1,433")  # Russian: a decimal comma with three digits


@pytest.mark.parametrize("raw", ["", "abc", "-5", "1.250,50", "12,345", "1e3", "12..5",
                                 "NaN", "1234567890", "٣٤"])
def test_payment_garbage(raw: str) -> None:
    with pytest.raises(InvalidPayment):
        parse_payment(raw)


def test_surnames_and_pins() -> None:
    assert normalize_surname("  Петров-Водкин ") == "Петров-Водкин"
    assert normalize_surname("О’Брайен") == "О’Брайен"
    assert normalize_surname("Де  Голль") == "Де Голль"
    assert normalize_surname("фон Браун") == "фон Браун"
    assert normalize_surname("Мамедов оглы") == "Мамедов оглы"
    # Receipts print surnames in Cyrillic: a Latin spelling would only spend an attempt.
    for bad, reason in (("Иванов Иван Иванович", "full_name"), ("Попов Иван", "full_name"),
                        ("Иванов1", "format"),
                        ("", "format"), ("-", "format"), ("Zhuravleva", "latin"),
                        ("O’Brien", "latin")):
        with pytest.raises(InvalidSurname) as error:
            normalize_surname(bad)
        assert error.value.reason == reason
    assert normalize_pin(" 0110 ") == "0110"
    for bad in ("", "12 34", "x" * 65):
        with pytest.raises(InvalidPin) as refused:
            normalize_pin(bad)
        assert refused.value.reason == "format"
    # A supplier's PIN pattern refuses what cannot be its PIN; a mailed password has none.
    catalog = load_catalog()
    perm, sevgas = catalog.get(PERM).pin, catalog.get("sevgas").pin
    assert perm is not None and sevgas is not None and sevgas.pattern is None
    assert normalize_pin(" 0110 ", perm) == "0110"
    for bad in ("abc", "12a4", "123", "123456789", "１２３４"):
        with pytest.raises(InvalidPin) as refused:
            normalize_pin(bad, perm)
        assert refused.value.reason == "shape", bad
    assert normalize_pin("Xy7-p@ss", sevgas) == "Xy7-p@ss"


# --- every demo account can be linked with what `demo-accounts --json` lists ----------------


@pytest.fixture(scope="module")
def demo_listing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[Any]]]:
    """`python -m bot demo-accounts --json` run once against a database the tests then use."""
    path = tmp_path_factory.mktemp("demo") / "bot.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    environment = {**os.environ, "DATABASE_URL": url, "BOT_TOKEN": ""}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo-accounts", "--json"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    for entry in entries:
        remember(entry["account"])
    yield url, entries


DEMO_SUPPLIERS = [s.code for s in load_catalog() if s.connector is ConnectorKind.DEMO]


@pytest.mark.parametrize("code", DEMO_SUPPLIERS)
async def test_every_demo_account_links_with_its_listed_proofs(
        code: str, demo_listing: tuple[str, list[Any]]) -> None:
    url, listing = demo_listing
    entries = [e for e in listing if e["supplier_code"] == code]
    assert entries, f"no demo accounts for {code}"
    catalog = load_catalog()
    supplier = catalog.get(code)
    assert supplier is not None
    user_id = 10_000 + DEMO_SUPPLIERS.index(code) * 100
    async with opened(url) as env:
        env.clock.now = datetime.now(UTC)
        for entry in entries:
            unit = next((u.code for u in supplier.units if u.name.ru == entry["unit"]), None)
            assert (unit is None) == (entry["unit"] is None)
            ref = AccountRef(code, entry["account"], unit)
            proofs = []
            if entry["pin"] is not None:
                proofs.append(pin(entry["pin"]))
            if entry["surname"] is not None:
                proofs.append(Proof(ProofKind.SURNAME_PAYMENT, surname=entry["surname"],
                                    last_payment=Decimal(entry["last_payment"])))
            assert proofs and all(supplier.accepts(p.kind) for p in proofs)
            assert supplier.account.validate(entry["account"]).number == entry["account"]
            for proof in proofs:
                user_id += 1
                await env.user(user_id)
                info = await env.run(lambda s, u=user_id, r=ref: s.linking.lookup(u, r))
                assert isinstance(info, AccountInfo)
                assert entry["account"] not in info.owner_masked + info.address_masked
                account = await env.link(user_id, ref, proof)
                assert (account.number, account.unit, account.is_default) == (
                    entry["account"], unit, True)


async def test_users_table_is_untouched_by_the_lock(env: Env) -> None:
    """The lock is a no-op update: the user's row reads the same afterwards."""
    billing = fake(env)
    billing.add(PERM, "59000001", pin="1")
    alice = await env.user(1)
    before = (await env.rows(User))[0]
    await env.link(alice, AccountRef(PERM, "59000001"), pin("1"))
    after = (await env.rows(User))[0]
    assert (after.language, after.phone, after.updated_at) == (
        before.language, before.phone, before.updated_at)

"""The rules that decide what a customer may do and see, held by the use cases so that
every face (HTTP, Service Bus, CLI) gets them: a schedule debits only an account its
customer holds; another customer's schedule is as unknown as a missing one, to read, to
amend and to pause; and a read made for a customer by a channel is audited, while the
customer's own is not."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from scheduler.adapters.ledger import Ledger
from scheduler.adapters.sql import tables
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain import errors
from scheduler.service.change_schedule_status import (
    ChangeScheduleStatus,
    ScheduleAction,
    change_schedule_status,
)
from scheduler.service.read_schedule import read_schedule
from scheduler.service.record_read import Reader
from tests.support import schedules
from tests.support.clock import SettableClock
from tests.support.engine_steps import snapshot

CUSTOMER = Reader(actor="customer:alice", customer_id="alice", privileged=False)
CHANNEL = Reader(
    actor="channel:mobile for customer:alice",
    customer_id="alice",
    privileged=True,
    correlation_id="corr-1",
)


def _transfer(debit_account: str = "GB-DEBIT-1") -> dict[str, Any]:
    return schedules.one_time_transfer("2027-02-15", "100.00") | {"debit_account": debit_account}


def _audit_actions(engine: sa.Engine) -> list[tuple[str, str]]:
    a = tables.audit_record.c
    with engine.connect() as connection:
        return [
            (row.action, row.actor)
            for row in connection.execute(sa.select(a.action, a.actor).order_by(a.seq))
        ]


def test_a_schedule_debits_only_an_account_its_customer_holds(
    engine: sa.Engine, clock: SettableClock, ledger: Ledger
) -> None:
    before = snapshot(engine)

    with pytest.raises(errors.AccountNotHeld) as raised:
        schedules.create(engine, clock, _transfer("GB-DEBIT-1"), customer_id="bob", accounts=ledger)
    with pytest.raises(errors.AccountNotHeld):
        schedules.create(engine, clock, _transfer("GB-NOWHERE"), accounts=ledger)

    assert raised.value.field == "debit_account"
    assert snapshot(engine) == before
    assert schedules.create(engine, clock, _transfer(), accounts=ledger)


def test_another_customers_schedule_cannot_be_read_or_paused(
    engine: sa.Engine, clock: SettableClock
) -> None:
    schedule_id = schedules.create(engine, clock, _transfer())
    bob = Reader(actor="customer:bob", customer_id="bob", privileged=False)
    before = snapshot(engine)

    with pytest.raises(errors.UnknownSchedule):
        read_schedule(schedule_id, reader=bob, uow=SqlUnitOfWork(engine), clock=clock)
    with pytest.raises(errors.UnknownSchedule):
        change_schedule_status(
            ChangeScheduleStatus(
                schedule_id=schedule_id,
                customer_id="bob",
                action=ScheduleAction.PAUSE,
                actor="customer:bob",
            ),
            uow=SqlUnitOfWork(engine),
            clock=clock,
        )
    with pytest.raises(errors.UnknownSchedule):
        read_schedule(uuid.uuid4(), reader=CUSTOMER, uow=SqlUnitOfWork(engine), clock=clock)

    assert snapshot(engine) == before


def test_a_channels_read_for_a_customer_is_audited_and_the_customers_own_is_not(
    engine: sa.Engine, clock: SettableClock
) -> None:
    schedule_id = schedules.create(engine, clock, _transfer())
    created = _audit_actions(engine)

    own = read_schedule(schedule_id, reader=CUSTOMER, uow=SqlUnitOfWork(engine), clock=clock)
    after_own = _audit_actions(engine)
    for_customer = read_schedule(
        schedule_id, reader=CHANNEL, uow=SqlUnitOfWork(engine), clock=clock
    )

    assert own == for_customer
    assert after_own == created
    assert _audit_actions(engine) == [*created, ("schedule.read", CHANNEL.actor)]

"""Use case: read one of a customer's schedules, and the rule of who may.

A customer's schedule is theirs alone: to anyone acting for another customer it is as
unknown as a schedule that does not exist, so that ids cannot be probed. Every use
case that takes a schedule id on a customer's behalf goes through `owned_schedule`.
"""

from __future__ import annotations

from uuid import UUID

from scheduler.domain import errors
from scheduler.ports import Clock, StoredSchedule, UnitOfWork
from scheduler.service.record_read import Reader, record_read


def owned_schedule(uow: UnitOfWork, schedule_id: UUID, customer_id: str) -> StoredSchedule:
    """Schedule `schedule_id` if customer `customer_id` holds it, in `uow`'s
    transaction; raises `UnknownSchedule` if it is missing or another customer's."""
    stored = uow.schedules.get_many([schedule_id]).get(schedule_id)
    if stored is None or stored.schedule.customer_id != customer_id:
        raise errors.UnknownSchedule(str(schedule_id))
    return stored


def read_schedule(
    schedule_id: UUID, *, reader: Reader, uow: UnitOfWork, clock: Clock
) -> StoredSchedule:
    """The reader's customer's schedule `schedule_id`, the read audited as `record_read`
    says (a channel's read for a customer is; the customer's own is not). Raises
    `UnknownSchedule` for a schedule that is missing or another customer's."""
    if reader.customer_id is None:
        raise errors.UnknownSchedule(str(schedule_id))
    with uow:
        stored = owned_schedule(uow, schedule_id, reader.customer_id)
        recorded = record_read(
            uow,
            reader=reader,
            at=clock.now(),
            action="schedule.read",
            subject_type="schedule",
            subject_id=str(schedule_id),
            details={},
        )
        if recorded:
            uow.commit()
    return stored

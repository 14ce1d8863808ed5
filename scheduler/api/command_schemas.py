"""The JSON of the commands bank systems send on the `schedule-commands` queue.

Each is one of the API's own requests, in the API's own shapes (`schemas.ScheduleIn`,
`schemas.ScheduleChangeIn`), plus the customer it acts for and the system that sent
it, so a command is checked exactly as the same request over HTTP:

    {"command": "create", "customer_id": "alice", "sender": "core-banking",
     "schedule": {...a ScheduleIn...}}
    {"command": "amend", "customer_id": "alice", "sender": "...",
     "schedule_id": "...", "expected_version": 3, "change": {...a ScheduleChangeIn...}}
    {"command": "pause" | "resume" | "cancel", "customer_id": "alice", "sender": "...",
     "schedule_id": "...", "expected_version": 3 | null}
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, TypeAdapter

from scheduler.api import schemas

#: A customer id or a sending system's name: what the store's columns hold.
Id = Annotated[schemas.PlainText, Field(min_length=1, max_length=64, pattern=r"^\S+$")]


class _Command(schemas.Shape):
    customer_id: Id
    sender: Id


class CreateCommand(_Command):
    """Create a schedule for `customer_id`, as `POST /v1/schedules` does."""

    command: Literal["create"]
    schedule: schemas.ScheduleIn


class AmendCommand(_Command):
    """Amend a schedule, as `PATCH /v1/schedules/{id}` with `If-Match` does."""

    command: Literal["amend"]
    schedule_id: UUID
    expected_version: int = Field(ge=1)
    change: schemas.ScheduleChangeIn


class StatusCommand(_Command):
    """Pause, resume or cancel a schedule, as `POST /v1/schedules/{id}/<action>` does."""

    command: Literal["pause", "resume", "cancel"]
    schedule_id: UUID
    expected_version: int | None = Field(default=None, ge=1)


Command = Annotated[CreateCommand | AmendCommand | StatusCommand, Field(discriminator="command")]

#: Parses a command document (JSON bytes or text).
COMMAND: TypeAdapter[CreateCommand | AmendCommand | StatusCommand] = TypeAdapter(Command)

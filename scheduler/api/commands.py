"""Carry out a command a bank system sent on the `schedule-commands` queue, exactly as
the same request over HTTP would be: the same shapes (`command_schemas`), the same use
cases, the same problem documents, and an answer kept once per message.

A message may be delivered more than once (its lock expired, the host restarted before
completing it). Its answer, accepted or rejected, is kept under its message id in the
idempotency table (`servicebus:<sha256 of the message id>`, for the command's customer,
for seven days), in the transaction of the change it reports, so a redelivery gets the
first answer and changes nothing. A message that is not a command at all names no
customer and is not kept: its rejection is the same each time it is parsed.

What failed for a reason that may pass (the store, the bank's account records) raises:
the message goes back to the queue, and to its dead-letter queue after the queue's
`maxDeliveryCount` deliveries (bicep/app/servicebus.bicep). Everything else is an
answer, sent to the sender on the outcomes queue by `function_app.schedule_commands`.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pydantic
import sqlalchemy as sa

from scheduler import tracing
from scheduler.adapters.sql.transient import retry_transient
from scheduler.api import command_schemas, problems
from scheduler.api.idempotency import Answer, IdempotencyKeyReused, IdempotentRequest
from scheduler.api.representation import schedule_body
from scheduler.api.requests import answer_once
from scheduler.bootstrap import Runtime
from scheduler.domain import definition, errors
from scheduler.ports import QueueMessage, StoredSchedule, UnitOfWork
from scheduler.service.amend_schedule import Amended, AmendSchedule, amend_schedule
from scheduler.service.change_schedule_status import (
    ChangeScheduleStatus,
    ScheduleAction,
    StatusChanged,
    change_schedule_status,
)
from scheduler.service.create_schedule import CreateSchedule, create_schedule

#: The queue of the outcomes, which the senders read (bicep/app/servicebus.bicep).
OUTCOMES_QUEUE = "schedule-command-outcomes"
#: Most characters of a rejection's `DeadLetterErrorDescription`.
DESCRIPTION_LENGTH = 1024
#: How long a command's answer is kept for its redeliveries: past the queue's message
#: time-to-live and any redelivery a bank system would make by hand.
ANSWER_TTL = timedelta(days=7)

Command = (
    command_schemas.CreateCommand | command_schemas.AmendCommand | command_schemas.StatusCommand
)
_SENDER: pydantic.TypeAdapter[str] = pydantic.TypeAdapter(command_schemas.Id)
_COMMAND_NAMES = frozenset({"create", "amend", *ScheduleAction})


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What became of one command: accepted, with the schedule as it now is, or
    rejected, with the problem (RFC 9457) naming what was wrong; `replayed` when it is
    the kept answer to an earlier delivery of the same message. `sender` is the system
    that sent it, when the message said."""

    accepted: bool
    body: dict[str, Any]
    sender: str | None = None
    replayed: bool = False

    @classmethod
    def of(cls, answer: Answer, sender: str | None = None) -> Outcome:
        accepted = answer.status_code < 400
        key = "schedule" if accepted else "problem"
        body = {"outcome": "accepted" if accepted else "rejected", key: answer.body}
        return cls(accepted=accepted, body=body, sender=sender, replayed=answer.replayed)

    @property
    def code(self) -> str | None:
        """The problem's code when rejected."""
        return None if self.accepted else self.body["problem"]["code"]


def outcome_message(message_id: str, outcome: Outcome) -> QueueMessage:
    """The message telling the sender of command `message_id` what became of it: under
    the command's own message id, which the outcomes queue de-duplicates on, so sending
    it again after a redelivery is harmless; the command's id as its correlation id.

    A rejection carries `DeadLetterReason` (the problem's code) and
    `DeadLetterErrorDescription` (its detail and the fields at fault), the properties
    Service Bus gives a dead-lettered message, so tools that read dead-letter queues
    read these too. Sent in a trace, it carries its `traceparent`."""
    status = "accepted" if outcome.accepted else "rejected"
    properties: dict[str, str | int] = {"outcome": status}
    if (traceparent := tracing.current_traceparent()) is not None:
        properties["traceparent"] = traceparent
    if outcome.sender is not None:
        properties["sender"] = outcome.sender
    if not outcome.accepted:
        problem = outcome.body["problem"]
        properties["DeadLetterReason"] = problem["code"]
        properties["DeadLetterErrorDescription"] = _description(problem)
    return QueueMessage(
        message_id=message_id,
        subject=f"schedule-command.{status}",
        body=outcome.body,
        correlation_id=message_id,
        properties=properties,
    )


def _description(problem: dict[str, Any]) -> str:
    """The problem's detail, then each field at fault and why, at most
    `DESCRIPTION_LENGTH` characters."""
    parts = [problem.get("detail") or problem["title"]]
    parts += [f"{error['field']}: {error['message']}" for error in problem.get("errors", [])]
    return "; ".join(parts)[:DESCRIPTION_LENGTH]


def carry_out(
    runtime: Runtime,
    *,
    message_id: str,
    body: bytes,
    correlation_id: str | None,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """The outcome of the command in `body`, the message `message_id`, carrying it out
    unless an earlier delivery did. Raises what failed for a reason that may pass, after
    retrying a transient store error a few times (waiting with `sleep`)."""
    try:
        command = command_schemas.COMMAND.validate_json(body)
    except pydantic.ValidationError as invalid:
        rejection = _rejection(problems.of_invalid(_located(invalid.errors())))
        return Outcome.of(rejection, _sender_of(body))
    idempotent = IdempotentRequest(
        customer_id=command.customer_id,
        key="servicebus:" + hashlib.sha256(message_id.encode()).hexdigest(),
        request_hash=hashlib.sha256(
            definition.canonical_json(command.model_dump(mode="json")).encode()
        ).hexdigest(),
        ttl=ANSWER_TTL,
    )
    context = _Context(runtime, command, (correlation_id or message_id)[:64])
    return retry_transient(
        lambda: Outcome.of(_answer(context, idempotent), command.sender),
        what=f"command {command.command}",
        sleep=sleep,
    )


@dataclass(frozen=True, slots=True)
class _Context:
    runtime: Runtime
    command: Command
    correlation_id: str

    @property
    def actor(self) -> str:
        return f"system:{self.command.sender} for customer:{self.command.customer_id}"


def _answer(context: _Context, idempotent: IdempotentRequest) -> Answer:
    """The answer to the command: carried out, replayed, or refused (and kept)."""
    runtime = context.runtime
    try:
        return _run(context, idempotent)
    except IdempotencyKeyReused as reused:
        return _rejection(problems.of_error(reused))
    except errors.SchedulerError as error:
        if problems.status_of(error) >= 500:
            raise
        refused = _rejection(_in_command(problems.of_error(error), context.command))
        try:
            with runtime.unit_of_work() as uow:
                idempotent.keep(uow, refused, runtime.clock.now())
                uow.commit()
        except sa.exc.IntegrityError:
            with runtime.unit_of_work() as uow:
                replayed = idempotent.replay(uow, runtime.clock.now())
            if replayed is None:
                raise
            return replayed
        return refused


def _run(context: _Context, idempotent: IdempotentRequest) -> Answer:
    runtime, command = context.runtime, context.command
    if isinstance(command, command_schemas.CreateCommand):
        return answer_once(
            runtime,
            idempotent,
            201,
            lambda keep: _create(context, command, keep),
            lambda stored: schedule_body(runtime, stored),
        )
    if isinstance(command, command_schemas.AmendCommand):
        return answer_once(
            runtime,
            idempotent,
            200,
            lambda keep: _amend(context, command, keep),
            lambda amended: schedule_body(
                runtime, amended.stored, [operation.id for operation in amended.in_flight]
            ),
        )
    return answer_once(
        runtime,
        idempotent,
        200,
        lambda keep: _change_status(context, command, keep),
        lambda changed: schedule_body(
            runtime, changed.stored, [operation.id for operation in changed.in_flight]
        ),
    )


def _create(
    context: _Context,
    command: command_schemas.CreateCommand,
    keep: Callable[[UnitOfWork, StoredSchedule], None],
) -> StoredSchedule:
    runtime = context.runtime
    return create_schedule(
        CreateSchedule(
            schedule=command.schedule.to_schedule(
                schedule_id=uuid.uuid4(),
                customer_id=command.customer_id,
                created_at=runtime.clock.now(),
            ),
            definition=command.schedule.model_dump(mode="json"),
            channel=f"servicebus:{command.sender}"[:32],
            actor=context.actor,
            correlation_id=context.correlation_id,
        ),
        uow=runtime.unit_of_work(),
        clock=runtime.clock,
        accounts=runtime.accounts,
        before_commit=keep,
    )


def _amend(
    context: _Context,
    command: command_schemas.AmendCommand,
    keep: Callable[[UnitOfWork, Amended], None],
) -> Amended:
    return amend_schedule(
        AmendSchedule(
            schedule_id=command.schedule_id,
            customer_id=command.customer_id,
            change=command.change.model_dump(mode="json", exclude_unset=True),
            expected_version=command.expected_version,
            actor=context.actor,
            correlation_id=context.correlation_id,
        ),
        uow=context.runtime.unit_of_work(),
        clock=context.runtime.clock,
        before_commit=keep,
    )


def _change_status(
    context: _Context,
    command: command_schemas.StatusCommand,
    keep: Callable[[UnitOfWork, StatusChanged], None],
) -> StatusChanged:
    return change_schedule_status(
        ChangeScheduleStatus(
            schedule_id=command.schedule_id,
            customer_id=command.customer_id,
            action=ScheduleAction(command.command),
            actor=context.actor,
            expected_version=command.expected_version,
            correlation_id=context.correlation_id,
        ),
        uow=context.runtime.unit_of_work(),
        clock=context.runtime.clock,
        before_commit=keep,
    )


def _rejection(problem: dict[str, Any]) -> Answer:
    return Answer(status_code=problem["status"], body=problem)


def _sender_of(body: bytes) -> str | None:
    """The sending system a command that is not valid names, if that much of it is,
    so that its rejection still reaches the right system."""
    try:
        document = json.loads(body)
        return _SENDER.validate_python(document["sender"])
    except (ValueError, TypeError, KeyError, pydantic.ValidationError):
        return None


def _in_command(problem: dict[str, Any], command: Command) -> dict[str, Any]:
    """`problem` with each field named where it is in the command: a field of the
    schedule under `schedule.`, of an amendment under `change.`."""
    document = {"create": "schedule.", "amend": "change."}.get(command.command, "")
    fields = [error | {"field": document + error["field"]} for error in problem.get("errors", [])]
    return problem | {"errors": fields} if fields else problem


def _located(items: list[Any]) -> list[Any]:
    """Pydantic's errors with each field named as the sender wrote it: without the
    command's name, which pydantic puts first for a tagged union; `command` when the tag
    is missing or unknown; `body` when the message is not a JSON object at all."""
    located = []
    for item in items:
        location = tuple(item["loc"])
        if item["type"].startswith("union_tag_"):
            location = ("command",)
        elif not location:
            location = ("body",)
        elif location[0] in _COMMAND_NAMES:
            location = location[1:] or ("command",)
        located.append({**item, "loc": location})
    return located

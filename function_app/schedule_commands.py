"""Service Bus: commands from bank systems in, outcomes and dead operations out.

- `schedule_commands`, triggered by each message on `schedule-commands`, carries out the
  command (`scheduler.api.commands`) and sends its outcome to
  `schedule-command-outcomes`. It returns, and the host completes the message, once the
  outcome is sent, accepted or rejected alike: a rejection is an answer, not a failure.
  It raises when the store, the bank's account records or the outcomes queue failed;
  the host then abandons the message, which comes again, and goes to the dead-letter
  queue after the queue's `maxDeliveryCount` deliveries.
- `send_dead_operations`, on `%DEAD_OPERATIONS_SCHEDULE%` (UTC), sends the operations
  whose retries are exhausted to `operations-dead` (`scheduler.service`).

Why rejections are completed and reported rather than dead-lettered with a reason: the
Python worker's Service Bus binding cannot settle a message itself; the settlement
bindings exist only as a preview extension package. Both functions do nothing more than
log when `SERVICEBUS_NAMESPACE` is empty.
"""

from __future__ import annotations

import logging

import azure.functions as func
from opentelemetry.trace import SpanKind

from scheduler import bootstrap, logs, tracing
from scheduler.api import commands
from scheduler.service.send_dead_operations import DEFAULT_BATCH_SIZE
from scheduler.service.send_dead_operations import send_dead_operations as send_dead

logger = logging.getLogger(__name__)

#: The queue bank systems send commands to (bicep/app/servicebus.bicep).
COMMANDS_QUEUE = "schedule-commands"
#: The app setting prefix of the namespace connection (identity-based: the app settings
#: `SERVICEBUS__fullyQualifiedNamespace`, `__credential` and `__clientId`).
CONNECTION = "SERVICEBUS"


def register(blueprint: func.Blueprint) -> None:
    """Add the commands trigger and the dead-operations timer to `blueprint`."""
    blueprint.function_name("schedule_commands")(
        blueprint.service_bus_queue_trigger(
            arg_name="message", queue_name=COMMANDS_QUEUE, connection=CONNECTION
        )(schedule_commands)
    )
    blueprint.function_name("send_dead_operations")(
        blueprint.timer_trigger(
            arg_name="timer", schedule="%DEAD_OPERATIONS_SCHEDULE%", run_on_startup=False
        )(send_dead_operations)
    )


def schedule_commands(message: func.ServiceBusMessage) -> None:
    """Carry out one command and send its outcome, in a span continuing the sender's
    trace (`traceparent`, or the `Diagnostic-Id` Azure's SDKs set, when the message
    carries one): the schedule, its operations and events, and the outcome join it."""
    runtime = bootstrap.process_runtime()
    logs.correlation_id.set(message.correlation_id or message.message_id)
    with tracing.span(
        f"process {COMMANDS_QUEUE}",
        parent=sender_trace(message),
        kind=SpanKind.CONSUMER,
        attributes={"messaging.message.id": message.message_id},
    ):
        _carry_out(runtime, message)


def sender_trace(message: func.ServiceBusMessage) -> str | None:
    """The trace context the sender put on `message`, if any."""
    properties = message.application_properties or {}
    for name in ("traceparent", "Diagnostic-Id"):
        value = properties.get(name)
        if isinstance(value, str) and len(value) == tracing.TRACEPARENT_LENGTH:
            return value
    return None


def _carry_out(runtime: bootstrap.Runtime, message: func.ServiceBusMessage) -> None:
    outcome = commands.carry_out(
        runtime,
        message_id=message.message_id,
        body=message.get_body(),
        correlation_id=message.correlation_id,
    )
    logger.info(
        "command %s %s%s",
        message.message_id,
        "accepted" if outcome.accepted else f"rejected ({outcome.code})",
        ", answered as before" if outcome.replayed else "",
        extra={
            "message_id": message.message_id,
            "delivery_count": message.delivery_count,
            "accepted": outcome.accepted,
            "problem_code": outcome.code,
            "replayed": outcome.replayed,
        },
    )
    if runtime.queues is None:
        logger.warning("SERVICEBUS_NAMESPACE is empty: the outcome is not sent")
        return
    runtime.queues.send(
        commands.OUTCOMES_QUEUE, [commands.outcome_message(message.message_id, outcome)]
    )


def send_dead_operations(timer: func.TimerRequest) -> None:
    """Send the dead operations not sent yet, a batch at a time, until a batch is not
    full."""
    runtime = bootstrap.process_runtime()
    if runtime.queues is None:
        return
    sent = DEFAULT_BATCH_SIZE
    while sent == DEFAULT_BATCH_SIZE:
        sent = send_dead(uow=runtime.unit_of_work(), queues=runtime.queues, clock=runtime.clock)

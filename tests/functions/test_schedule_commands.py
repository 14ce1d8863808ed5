"""The `schedule_commands` Service Bus function, called as the worker calls it: each
command is checked and carried out as the HTTP API would, answered once per message
however often it is delivered, and its outcome sent under the command's message id.
Rejections change nothing; what may pass raises, so the host delivers it again."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from function_app import schedule_commands as function
from scheduler import bootstrap
from scheduler.adapters.sql import tables
from scheduler.api import commands
from scheduler.ports import AccountDirectoryUnavailable
from tests.support import api, spans
from tests.support.schedules import one_time_transfer
from tests.support.service_bus import RecordingQueues, trigger_message
from tests.support.store_faults import StatementFaults

SENDER = "core-banking"


@pytest.fixture
def queues() -> RecordingQueues:
    return RecordingQueues()


@pytest.fixture
def runtime(
    tmp_path: Path, queues: RecordingQueues, monkeypatch: pytest.MonkeyPatch
) -> Iterator[bootstrap.Runtime]:
    built = api.migrated_runtime(tmp_path)
    runtime = dataclasses.replace(built, queues=queues)
    monkeypatch.setattr(bootstrap, "process_runtime", lambda: runtime)
    yield runtime
    built.close()


def _create(**overrides: Any) -> dict[str, Any]:
    return {
        "command": "create",
        "customer_id": "alice",
        "sender": SENDER,
        "schedule": one_time_transfer("2027-02-01", "25.00"),
    } | overrides


def _deliver(body: dict[str, Any] | bytes, message_id: str, **metadata: Any) -> commands.Outcome:
    """Call the function with the message; return the outcome it sent."""
    function.schedule_commands(trigger_message(body, message_id=message_id, **metadata))
    runtime = bootstrap.process_runtime()
    assert isinstance(runtime.queues, RecordingQueues)
    sent = runtime.queues.sent[commands.OUTCOMES_QUEUE][-1]
    assert sent.message_id == message_id
    assert sent.correlation_id == message_id
    accepted = sent.body["outcome"] == "accepted"
    assert sent.subject == f"schedule-command.{sent.body['outcome']}"
    return commands.Outcome(accepted=accepted, body=sent.body, sender=SENDER)


def _rows(runtime: bootstrap.Runtime, table: sa.Table) -> list[sa.Row[Any]]:
    with runtime.engine.connect() as connection:
        return list(connection.execute(sa.select(table)))


def _problem(outcome: commands.Outcome) -> dict[str, Any]:
    assert not outcome.accepted, outcome.body
    problem: dict[str, Any] = outcome.body["problem"]
    return problem


def _created(runtime: bootstrap.Runtime, message_id: str = "m-create") -> dict[str, Any]:
    outcome = _deliver(_create(), message_id)
    assert outcome.accepted, outcome.body
    schedule: dict[str, Any] = outcome.body["schedule"]
    return schedule


def test_a_create_command_creates_the_schedule_and_reports_it(
    runtime: bootstrap.Runtime, queues: RecordingQueues
) -> None:
    schedule = _created(runtime)

    (stored,) = _rows(runtime, tables.schedule)
    assert str(stored.id) == schedule["id"]
    assert stored.customer_id == "alice"
    assert stored.channel == "servicebus:core-banking"
    assert schedule["status"] == "active"
    assert schedule["schedule"]["amount"] == {"value": "25.00", "currency": "GBP"}
    (audit,) = [
        row for row in _rows(runtime, tables.audit_record) if row.action.startswith("schedule.")
    ]
    assert audit.actor == "system:core-banking for customer:alice"
    assert audit.correlation_id == "m-create"
    (outcome,) = queues.sent[commands.OUTCOMES_QUEUE]
    assert outcome.properties == {"outcome": "accepted", "sender": SENDER}


def test_the_correlation_id_of_the_message_is_the_audit_records(
    runtime: bootstrap.Runtime,
) -> None:
    _deliver(_create(), "m-1", correlation_id="trace-42")

    actions = {row.action: row.correlation_id for row in _rows(runtime, tables.audit_record)}
    assert actions["schedule.created"] == "trace-42"


def test_a_redelivered_command_changes_nothing_and_gets_the_first_outcome(
    runtime: bootstrap.Runtime, queues: RecordingQueues
) -> None:
    first = _deliver(_create(), "m-twice")
    again = _deliver(_create(), "m-twice", delivery_count=2)

    assert again.body == first.body
    assert len(_rows(runtime, tables.schedule)) == 1
    assert [m.message_id for m in queues.sent[commands.OUTCOMES_QUEUE]] == ["m-twice", "m-twice"]


def test_two_messages_with_the_same_command_are_two_schedules(runtime: bootstrap.Runtime) -> None:
    # A bank system's two standing orders of the same terms are two messages, two ids.
    _deliver(_create(), "m-1")
    _deliver(_create(), "m-2")

    assert len(_rows(runtime, tables.schedule)) == 2


def test_a_message_id_reused_for_another_command_is_rejected(runtime: bootstrap.Runtime) -> None:
    _deliver(_create(), "m-reused")
    other = _create(schedule=one_time_transfer("2027-02-01", "99.00"))

    problem = _problem(_deliver(other, "m-reused"))

    assert problem["code"] == "idempotency_key_reused"
    (stored,) = _rows(runtime, tables.schedule)
    assert stored.amount == Decimal("25.00")


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        (b"{not json", "body", "invalid_request"),
        (b"[1, 2]", "body", "invalid_request"),
        ({"customer_id": "alice", "sender": SENDER}, "command", "invalid_request"),
        (_create(command="delete"), "command", "invalid_request"),
        (_create(customer_id=""), "customer_id", "invalid_request"),
        (_create(sender="two words"), "sender", "invalid_request"),
        (
            _create(schedule={"kind": "one_time_transfer"}),
            "schedule.debit_account",
            "invalid_request",
        ),
        (
            _create(schedule=one_time_transfer("2027-02-01", "25.001")),
            "schedule.amount",
            "invalid_money",
        ),
        (
            _create(schedule=one_time_transfer("2027-02-01", "25.00") | {"reference": "a\u202eb"}),
            "schedule.reference",
            "forbidden_character",
        ),
        (_create(unexpected=True), "unexpected", "invalid_request"),
    ],
    ids=[
        "not-json",
        "not-an-object",
        "no-command",
        "unknown-command",
        "empty-customer",
        "sender-with-space",
        "missing-fields",
        "too-many-decimals",
        "bidi-override",
        "unknown-field",
    ],
)
def test_an_invalid_command_is_rejected_naming_the_field_and_changes_nothing(
    runtime: bootstrap.Runtime, body: dict[str, Any] | bytes, field: str, code: str
) -> None:
    problem = _problem(_deliver(body, "m-invalid"))

    assert problem["status"] == 422
    assert problem["code"] == code
    assert field in [error["field"] for error in problem["errors"]]
    assert _rows(runtime, tables.schedule) == []


def test_an_account_the_customer_does_not_hold_is_rejected_and_the_rejection_kept(
    runtime: bootstrap.Runtime,
) -> None:
    body = _create(customer_id="bob")  # GB-DEBIT-1 is Alice's

    problem = _problem(_deliver(body, "m-not-held"))
    again = _problem(_deliver(body, "m-not-held", delivery_count=2))

    assert problem["code"] == "account_not_held"
    assert problem["errors"] == [{"field": "schedule.debit_account", "message": problem["detail"]}]
    assert again == problem
    assert _rows(runtime, tables.schedule) == []
    assert len(_rows(runtime, tables.api_idempotency)) == 1


def _status_command(command: str, schedule_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "command": command,
        "customer_id": "alice",
        "sender": SENDER,
        "schedule_id": schedule_id,
    } | extra


def test_pause_resume_and_cancel_commands_change_the_schedule(runtime: bootstrap.Runtime) -> None:
    schedule_id = _created(runtime)["id"]

    paused = _deliver(_status_command("pause", schedule_id, expected_version=1), "m-pause")
    resumed = _deliver(_status_command("resume", schedule_id), "m-resume")
    cancelled = _deliver(_status_command("cancel", schedule_id), "m-cancel")

    assert [o.body["schedule"]["status"] for o in (paused, resumed, cancelled)] == [
        "paused",
        "active",
        "cancelled",
    ]
    (stored,) = _rows(runtime, tables.schedule)
    assert stored.status == "cancelled"


def test_an_amend_command_changes_the_terms_at_the_version_given(
    runtime: bootstrap.Runtime,
) -> None:
    schedule_id = _created(runtime)["id"]
    change = {"amount": {"value": "30.00", "currency": "GBP"}}
    amend = {
        "command": "amend",
        "customer_id": "alice",
        "sender": SENDER,
        "schedule_id": schedule_id,
        "expected_version": 1,
        "change": change,
    }

    amended = _deliver(amend, "m-amend")
    stale = _problem(_deliver(amend, "m-amend-again"))
    redelivered = _deliver(amend, "m-amend", delivery_count=2)

    assert amended.body["schedule"]["schedule"]["amount"] == {"value": "30.00", "currency": "GBP"}
    assert amended.body["schedule"]["version"] == 2
    assert (stale["status"], stale["code"]) == (412, "stale_version")
    assert redelivered.body == amended.body


def test_another_customers_schedule_is_as_unknown_as_a_missing_one(
    runtime: bootstrap.Runtime,
) -> None:
    schedule_id = _created(runtime)["id"]

    problem = _problem(
        _deliver(_status_command("cancel", schedule_id) | {"customer_id": "bob"}, "m-bob")
    )

    assert (problem["status"], problem["code"]) == (404, "unknown_schedule")
    (stored,) = _rows(runtime, tables.schedule)
    assert stored.status == "active"


def test_account_records_that_do_not_answer_raise_so_the_message_comes_again(
    runtime: bootstrap.Runtime, queues: RecordingQueues, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Unavailable:
        def holds(self, customer_id: str, account_id: str) -> bool:
            raise AccountDirectoryUnavailable("core banking did not answer")

    down = dataclasses.replace(runtime, accounts=Unavailable())
    monkeypatch.setattr(bootstrap, "process_runtime", lambda: down)

    with pytest.raises(AccountDirectoryUnavailable):
        function.schedule_commands(trigger_message(_create(), message_id="m-later"))

    assert commands.OUTCOMES_QUEUE not in queues.sent
    assert _rows(runtime, tables.schedule) == []
    assert _rows(runtime, tables.api_idempotency) == []


def test_a_store_that_keeps_failing_raises_after_retries_and_the_redelivery_succeeds(
    runtime: bootstrap.Runtime, queues: RecordingQueues
) -> None:
    faults = StatementFaults(
        runtime.engine, lambda sql: sql.startswith("INSERT INTO schedule"), times=4
    )
    waits: list[float] = []

    with pytest.raises(sa.exc.OperationalError):
        commands.carry_out(
            runtime,
            message_id="m-outage",
            body=json.dumps(_create()).encode(),
            correlation_id=None,
            sleep=waits.append,
        )

    assert (faults.failed, len(waits)) == (4, 3)
    assert _rows(runtime, tables.schedule) == []
    assert _rows(runtime, tables.api_idempotency) == []
    assert _deliver(_create(), "m-outage", delivery_count=2).accepted
    assert len(_rows(runtime, tables.schedule)) == 1


def test_an_outcome_that_cannot_be_sent_raises_and_the_redelivery_sends_it_once(
    runtime: bootstrap.Runtime, queues: RecordingQueues
) -> None:
    queues.failures = 1

    with pytest.raises(ConnectionError):
        function.schedule_commands(trigger_message(_create(), message_id="m-broker"))
    outcome = _deliver(_create(), "m-broker", delivery_count=2)

    assert outcome.accepted
    assert len(_rows(runtime, tables.schedule)) == 1
    assert len(queues.sent[commands.OUTCOMES_QUEUE]) == 1


def test_without_a_namespace_the_command_is_carried_out_and_nothing_sent(
    runtime: bootstrap.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        bootstrap, "process_runtime", lambda: dataclasses.replace(runtime, queues=None)
    )

    function.schedule_commands(trigger_message(_create(), message_id="m-local"))

    assert len(_rows(runtime, tables.schedule)) == 1


def test_a_rejection_says_why_as_a_dead_lettered_message_would(
    runtime: bootstrap.Runtime, queues: RecordingQueues
) -> None:
    body = _create(schedule=one_time_transfer("2027-02-01", "25.00") | {"reference": "a\u202eb"})

    _deliver(body, "m-bidi")

    (message,) = queues.sent[commands.OUTCOMES_QUEUE]
    assert message.subject == "schedule-command.rejected"
    assert message.properties["outcome"] == "rejected"
    assert message.properties["sender"] == SENDER
    assert message.properties["DeadLetterReason"] == "forbidden_character"
    description = message.properties["DeadLetterErrorDescription"]
    assert isinstance(description, str)
    assert "schedule.reference: " in description


@pytest.mark.parametrize("property_name", ["traceparent", "Diagnostic-Id"])
def test_a_command_continues_the_senders_trace_to_its_operations_and_outcome(
    runtime: bootstrap.Runtime, queues: RecordingQueues, property_name: str
) -> None:
    sender_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    message = trigger_message(
        _create(), message_id="m-traced", application_properties={property_name: sender_trace}
    )

    with spans.capturing() as recorded:
        function.schedule_commands(message)

    (consumer,) = [span for span in recorded if span.name == "process schedule-commands"]
    assert consumer.context is not None
    assert consumer.parent is not None
    assert f"{consumer.context.trace_id:032x}" == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert f"{consumer.parent.span_id:016x}" == "00f067aa0ba902b7"
    own = f"00-4bf92f3577b34da6a3ce929d0e0e4736-{consumer.context.span_id:016x}-01"
    assert {row.traceparent for row in _rows(runtime, tables.operation)} == {own}
    assert queues.only(commands.OUTCOMES_QUEUE).properties["traceparent"] == own


def test_a_message_without_a_trace_context_stores_none(runtime: bootstrap.Runtime) -> None:
    _created(runtime)

    assert {row.traceparent for row in _rows(runtime, tables.operation)} == {None}

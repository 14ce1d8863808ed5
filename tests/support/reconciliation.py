"""The reconciliation every dispatch test ends with: read back what the store holds and
prove each seeded transfer was paid exactly once."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from bench import workload
from scheduler.adapters.sql.unit_of_work import SqlUnitOfWork
from scheduler.domain.events import EventType
from scheduler.service.verify_audit import verify_audit

SUCCEEDED_EVENT = EventType.EXECUTION_SUCCEEDED.value
CREATED_EVENT = EventType.SCHEDULE_CREATED.value
COMPLETED_EVENT = EventType.SCHEDULE_COMPLETED.value


def assert_every_transfer_paid_once(engine: sa.Engine, seeded: workload.Seeded) -> workload.Facts:
    """Every seeded transfer succeeded once, with one ledger entry under its own key, one
    history row, one outcome event and one audit record, and the money adds up.
    Returns the facts read."""
    facts = workload.reconcile(engine)
    n = seeded.schedules
    assert facts.problems() == []
    assert facts.operations == {("execution", "succeeded"): n}
    # Exactly once in effect: one booking per operation id, moving that operation's money.
    assert facts.transfer_entries == facts.entries_matching_succeeded == n
    assert facts.ledger.ok, facts.ledger
    assert facts.ledger.entries == n + sum(1 for b in seeded.opening_balances.values() if b)
    # Balances: nothing created or destroyed per currency, each account moved by exactly
    # its own transfers (debit accounts end at zero: they held exactly what they owed).
    assert facts.customer_totals == seeded.funded_by_currency
    balances = {account: balance for account, (_, balance) in facts.balances.items()}
    expected = seeded.final_balances()
    assert {a: balances[a] for a in expected} == expected
    assert {b for a, b in balances.items() if a.startswith("DEBIT-")} == {Decimal(0)}
    # One recorded attempt each: history, outcome event, audit record.
    assert facts.attempt_rows == facts.operations_with_attempt_rows == n
    assert facts.max_attempt_rows_per_operation == 1
    assert facts.events_by_type == {SUCCEEDED_EVENT: n, CREATED_EVENT: n, COMPLETED_EVENT: n}
    assert facts.audit_by_action == {
        "schedule.created": n,
        "operation.succeeded": n,
        "schedule.completed": n,
    }
    assert facts.operations_audited == n
    assert facts.max_audit_records_per_operation == 1
    assert facts.schedules_by_status == {"completed": n}
    # The workers sealed the whole audit trail, and the chain verifies.
    report = verify_audit(uow=SqlUnitOfWork(engine))
    assert report.ok, report
    assert (report.records_checked, report.unsealed_records) == (3 * n, 0)
    return facts

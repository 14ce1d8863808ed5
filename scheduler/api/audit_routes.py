"""Auditors: the audit trail, newest first, and its verification.

Both routes need the auditor or admin role, and both are audited: reading the trail
writes an "audit.read" record in the read's own transaction; verifying writes
"audit.verified" with the outcome once verification (a read-only transaction of its
own) has finished, and before the report is returned.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from scheduler.api import cursors, requests, schemas, staff, store_retry
from scheduler.api.schedule_routes import MAX_PAGE, Cursor, RuntimeDep
from scheduler.api.staff_schemas import AuditPage, AuditRecordOut, VerificationOut
from scheduler.domain import localtime
from scheduler.ports import AuditQuery
from scheduler.service.hot_window import hot_window_start
from scheduler.service.read_audit_trail import audit_page
from scheduler.service.verify_audit import verify_audit

routes = APIRouter(prefix="/v1/audit", tags=["audit"], route_class=store_retry.RetryingRoute)

#: A filter on one of the audit record's text columns (the widest holds 64 characters).
TextFilter = Annotated[str | None, Query(min_length=1, max_length=64), schemas.PLAIN]


@routes.get("", response_model=AuditPage)
def page(
    *,
    caller: staff.Auditor,
    request: Request,
    runtime: RuntimeDep,
    subject_type: TextFilter = None,
    subject_id: TextFilter = None,
    customer_id: TextFilter = None,
    action: TextFilter = None,
    occurred_from: Annotated[datetime | None, Query(alias="from")] = None,
    occurred_before: Annotated[datetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Cursor = None,
) -> AuditPage:
    """Records that occurred in [from, to), newest first (by sequence number); each
    other filter given must equal its field. With the archive on, a range reaching back
    past the hot window reads the archive too."""
    for name, moment in (("from", occurred_from), ("to", occurred_before)):
        if moment is not None:
            localtime.require_aware(moment, field=name)
    # The cursor carries the record's time too, in the shape every cursor has; the
    # sequence number alone places it.
    before_seq = cursors.decode(cursor, int)[1] if cursor is not None else None
    query = AuditQuery(
        subject_type=subject_type,
        subject_id=subject_id,
        customer_id=customer_id,
        action=action,
        occurred_from=occurred_from,
        occurred_before=occurred_before,
    )
    with runtime.unit_of_work() as uow:
        found = audit_page(
            uow,
            query,
            before_seq=before_seq,
            limit=limit + 1,
            archive=runtime.archive,
            hot_from=hot_window_start(runtime.clock.now(), runtime.settings.archive_hot_months),
        )
        items, next_cursor = cursors.page(
            found, limit, lambda record: (record.entry.occurred_at, record.seq)
        )
        requests.audit_read(
            uow,
            caller=caller,
            request=request,
            at=runtime.clock.now(),
            action="audit.read",
            subject_type="audit_record",
            customer_id=customer_id,
            details={
                "filters": {
                    "subject_type": subject_type,
                    "subject_id": subject_id,
                    "customer_id": customer_id,
                    "action": action,
                    "from": None if occurred_from is None else occurred_from.isoformat(),
                    "to": None if occurred_before is None else occurred_before.isoformat(),
                    "cursor": cursor,
                    "limit": limit,
                },
                "returned": len(items),
            },
        )
        uow.commit()
    return AuditPage(items=[AuditRecordOut.of(record) for record in items], next_cursor=next_cursor)


@routes.get("/verification", response_model=VerificationOut)
def verification(
    *, caller: staff.Auditor, request: Request, runtime: RuntimeDep
) -> VerificationOut:
    """Recompute every sealed block from its records and follow the chain; report the
    first broken block, if any, with the sequence numbers of its records that changed,
    went missing or were added, and how many records are not sealed yet."""
    report = VerificationOut.of(verify_audit(uow=runtime.unit_of_work(), archive=runtime.archive))
    with runtime.unit_of_work() as uow:
        requests.audit_read(
            uow,
            caller=caller,
            request=request,
            at=runtime.clock.now(),
            action="audit.verified",
            subject_type="audit_trail",
            customer_id=None,
            details=report.model_dump(mode="json"),
        )
        uow.commit()
    return report

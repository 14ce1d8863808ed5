"""The execution history: every attempt at the caller's customer's operations, latest
first, filtered by schedule, status, time and amount, a page at a time or as a CSV or
PDF download.

A download streams: the attempts are read in keyset pages of `EXPORT_PAGE_ROWS`, each
in its own short unit of work, and written out as they come, so neither memory nor a
transaction grows with its length. Everything that can be refused (the caller, the
filters, the size) is checked before the first byte, so a refusal is still a problem
document and never a broken download.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from scheduler.api import cursors, schemas, store_retry
from scheduler.api.auth import Principal
from scheduler.api.exports import csv_file, keyset, pdf_report
from scheduler.api.requests import commit_channel_read
from scheduler.api.schedule_routes import Caller, Cursor, RuntimeDep, customer_of
from scheduler.bootstrap import Runtime
from scheduler.domain import errors, localtime
from scheduler.domain.operation import OperationStatus
from scheduler.ports import HistoryEntry, HistoryQuery
from scheduler.service.event_data import masked

#: Most attempts one page of the history holds: a 1,000-row query is one request.
MAX_HISTORY_PAGE = 1_000
#: Most attempts one download holds unless the app was built with a lower cap
#: (`create_app(max_export_rows=...)`); past it the download is refused, not cut short.
MAX_EXPORT_ROWS = 1_000_000
#: Attempts a download reads per query (and unit of work).
EXPORT_PAGE_ROWS = 500

_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")

routes = APIRouter(prefix="/v1/history", tags=["history"], route_class=store_retry.RetryingRoute)


class InvalidAmountRange(errors.ValidationError):
    """The amount range is not valid."""

    code = "invalid_amount_range"


class ExportTooLarge(errors.ValidationError):
    """More attempts match than one download may hold."""

    code = "export_too_large"


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryFilter:
    """Which attempts a listing or download holds: finished in [finished_from,
    finished_before), amount in [amount_min, amount_max], and the rest equal."""

    schedule_id: UUID | None
    status: OperationStatus | None
    finished_from: datetime | None
    finished_before: datetime | None
    amount_min: Decimal | None
    amount_max: Decimal | None
    currency: str | None

    def of(self, customer_id: str) -> HistoryQuery:
        """The query for the customer's attempts these filters select."""
        return HistoryQuery(
            customer_id=customer_id,
            schedule_id=self.schedule_id,
            outcome=self.status.value if self.status is not None else None,
            finished_from=self.finished_from,
            finished_before=self.finished_before,
            amount_min=self.amount_min,
            amount_max=self.amount_max,
            currency=self.currency,
        )

    def described(self) -> list[str]:
        """The filters in force, as the query parameters that set them."""
        given = (
            ("schedule_id", self.schedule_id),
            ("status", self.status.value if self.status is not None else None),
            ("from", self.finished_from.isoformat() if self.finished_from else None),
            ("to", self.finished_before.isoformat() if self.finished_before else None),
            ("amount_min", self.amount_min),
            ("amount_max", self.amount_max),
            ("currency", self.currency),
        )
        return [f"{name}={value}" for name, value in given if value is not None]


def _history_filter(
    *,
    schedule_id: UUID | None = None,
    status: OperationStatus | None = None,
    finished_from: Annotated[datetime | None, Query(alias="from")] = None,
    finished_before: Annotated[datetime | None, Query(alias="to")] = None,
    amount_min: Annotated[
        str | None, Query(max_length=32, description="Least amount, inclusive: 100.00")
    ] = None,
    amount_max: Annotated[
        str | None, Query(max_length=32, description="Greatest amount, inclusive: 250.00")
    ] = None,
    currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
) -> HistoryFilter:
    for name, moment in (("from", finished_from), ("to", finished_before)):
        if moment is not None:
            localtime.require_aware(moment, field=name)
    least, greatest = _amount("amount_min", amount_min), _amount("amount_max", amount_max)
    if least is not None and greatest is not None and least > greatest:
        raise InvalidAmountRange("amount_min is more than amount_max", field="amount_min")
    return HistoryFilter(
        schedule_id=schedule_id,
        status=status,
        finished_from=finished_from,
        finished_before=finished_before,
        amount_min=least,
        amount_max=greatest,
        currency=currency,
    )


def _amount(name: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    if not _DECIMAL.fullmatch(text):
        raise InvalidAmountRange(f"{name} is not a decimal number such as 100.50", field=name)
    value = Decimal(text)
    if value < 0:
        raise InvalidAmountRange(f"{name} must not be negative", field=name)
    return value


Filter = Annotated[HistoryFilter, Depends(_history_filter)]


@routes.get("", response_model=schemas.HistoryPage)
def page(
    *,
    caller: Caller,
    request: Request,
    runtime: RuntimeDep,
    filters: Filter,
    limit: Annotated[int, Query(ge=1, le=MAX_HISTORY_PAGE)] = 50,
    cursor: Cursor = None,
) -> schemas.HistoryPage:
    """Attempts finished in [from, to) with an amount in [amount_min, amount_max],
    latest first."""
    customer_id = customer_of(caller)
    after = cursors.decode(cursor, int) if cursor is not None else None
    with runtime.unit_of_work() as uow:
        entries = uow.history.page_for_customer(
            filters.of(customer_id), after=after, limit=limit + 1
        )
        items, next_cursor = cursors.page(entries, limit, _position)
        commit_channel_read(
            uow,
            caller=caller,
            request=request,
            at=runtime.clock.now(),
            action="history.listed",
            subject_type="execution_attempt",
            details={
                "filters": filters.described(),
                "cursor": cursor,
                "returned": len(items),
            },
        )
    return schemas.HistoryPage(items=[_out(entry) for entry in items], next_cursor=next_cursor)


@routes.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The attempts as CSV."}},
)
def export_csv(
    *, caller: Caller, request: Request, runtime: RuntimeDep, filters: Filter
) -> StreamingResponse:
    """Every matching attempt, latest first, as CSV: a header row, then one row per
    attempt with the fields of a history entry (`amount` and `currency` apart). At most
    1,000,000 attempts (`MAX_EXPORT_ROWS`), fewer where the API runs as an Azure
    Function: past that, narrow the filters (the problem names the cap)."""
    customer_id, entries = _export(caller, request, runtime, filters, "csv")
    return _download(
        csv_file.csv_chunks(entries),
        media_type="text/csv; charset=utf-8",
        filename=_filename(customer_id, runtime.clock.now(), "csv"),
    )


@routes.get(
    "/export.pdf",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/pdf": {}}, "description": "The attempts as PDF."}},
)
def export_pdf(
    *, caller: Caller, request: Request, runtime: RuntimeDep, filters: Filter
) -> StreamingResponse:
    """Every matching attempt, latest first, as a PDF report: the customer, the filters
    and the time of generation, then a table with its headings and a page number on
    every page. At most 1,000,000 attempts (`MAX_EXPORT_ROWS`), fewer where the API
    runs as an Azure Function: past that, narrow the filters (the problem names the
    cap)."""
    customer_id, entries = _export(caller, request, runtime, filters, "pdf")
    now = runtime.clock.now()
    chunks = pdf_report.pdf_chunks(
        entries, customer_id=customer_id, filters=filters.described(), generated_at=now
    )
    return _download(
        chunks, media_type="application/pdf", filename=_filename(customer_id, now, "pdf")
    )


def _export(
    caller: Principal, request: Request, runtime: Runtime, filters: HistoryFilter, form: str
) -> tuple[str, Iterator[list[schemas.HistoryEntryOut]]]:
    """The caller's customer and, read lazily a page at a time, the attempts to export;
    refuses an export over the cap now, before anything is sent."""
    customer_id = customer_of(caller)
    cap = _export_cap(request)
    with runtime.unit_of_work() as uow:
        matching = uow.history.count_for_customer(filters.of(customer_id), at_most=cap + 1)
        if matching > cap:
            raise ExportTooLarge(
                f"more than {cap} attempts match: narrow the filters, e.g. from and to"
            )
        commit_channel_read(
            uow,
            caller=caller,
            request=request,
            at=runtime.clock.now(),
            action="history.exported",
            subject_type="execution_attempt",
            details={"filters": filters.described(), "format": form, "rows": matching},
        )

    def read(after: tuple[datetime, int] | None, limit: int) -> Sequence[HistoryEntry]:
        with runtime.unit_of_work() as uow:
            return uow.history.page_for_customer(filters.of(customer_id), after=after, limit=limit)

    pages = keyset.pages(read, _position, page_size=EXPORT_PAGE_ROWS, cap=cap)
    return customer_id, ([_out(entry) for entry in page] for page in pages)


def _export_cap(request: Request) -> int:
    """The most attempts one download may hold in the app serving `request`: the
    `max_export_rows` it was built with, else `MAX_EXPORT_ROWS` (read now, not when
    the app was built)."""
    cap: int | None = request.app.state.max_export_rows
    return MAX_EXPORT_ROWS if cap is None else cap


def _download(chunks: Iterator[bytes], *, media_type: str, filename: str) -> StreamingResponse:
    return StreamingResponse(
        chunks,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _filename(customer_id: str, now: datetime, extension: str) -> str:
    """history-<customer>-<UTC timestamp>.<extension>, with only characters safe in a
    header and on every file system."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"history-{_UNSAFE_IN_FILENAME.sub('_', customer_id)}-{stamp}.{extension}"


def _position(entry: HistoryEntry) -> tuple[datetime, int]:
    return entry.finished_at, entry.id


def _out(entry: HistoryEntry) -> schemas.HistoryEntryOut:
    return schemas.HistoryEntryOut(
        id=entry.id,
        operation_id=entry.operation_id,
        schedule_id=entry.schedule_id,
        kind=entry.kind,
        attempt=entry.attempt,
        status=entry.outcome,
        due_at=entry.due_at,
        started_at=entry.started_at,
        finished_at=entry.finished_at,
        amount=schemas.AmountIn(
            value=str(entry.amount.amount), currency=entry.amount.currency.code
        ),
        debit_account=masked(entry.debit_account),
        credit_account=masked(entry.credit_account),
        error_code=entry.error_code,
        reason=entry.reason,
        recommended_action=entry.recommended_action,
        gateway_reference=entry.gateway_reference,
    )

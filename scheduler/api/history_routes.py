"""The execution history: every attempt at the caller's customer's operations, latest
first, filtered by schedule, status, time and amount, a page at a time or as a CSV or
PDF download.

A download streams: the attempts are read in keyset pages of `EXPORT_PAGE_ROWS`, each
in its own short unit of work, and written out as they come, so neither memory nor a
transaction grows with its length. Everything that can be refused (the caller, the
filters, the size) is checked before the first byte, so a refusal is still a problem
document and never a broken download. A download can also go out as a link to a copy in
the export store (`exports.delivery` says when), written the same way as it is made.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from scheduler.api import cursors, schemas, store_retry
from scheduler.api.auth import Principal
from scheduler.api.exports import csv_file, delivery, keyset, links, pdf_report
from scheduler.api.requests import commit_channel_read
from scheduler.api.schedule_routes import Caller, Cursor, RuntimeDep, customer_of
from scheduler.bootstrap import Runtime
from scheduler.domain import errors, localtime
from scheduler.domain.operation import OperationStatus
from scheduler.ports import HistoryEntry, HistoryQuery
from scheduler.service.event_data import masked

#: Most attempts one page of the history holds: a 1,000-row query is one request.
MAX_HISTORY_PAGE = 1_000
#: Most attempts one download holds, by link or not; one answered in the response holds
#: no more than the cap the app was built with (`create_app(max_export_rows=...)`).
#: Past it the download is refused, not cut short.
MAX_EXPORT_ROWS = 1_000_000
#: Attempts a download reads per query (and unit of work).
EXPORT_PAGE_ROWS = 500

_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9._-]")

routes = APIRouter(prefix="/v1/history", tags=["history"], route_class=store_retry.RetryingRoute)


class InvalidAmountRange(errors.ValidationError):
    """The amount range is not valid."""

    code = "invalid_amount_range"


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


def history_filter(
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
    """The filters of a listing or download, checked as every face checks them (the
    HTTP query and `tsched history export`): times with their offset, amounts decimal,
    not negative, and the least not above the greatest."""
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


Filter = Annotated[HistoryFilter, Depends(history_filter)]


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


LinkAsked = Annotated[
    Literal["link"] | None,
    Query(
        alias="delivery",
        description="`link`: write the file to storage and answer with a link to it that "
        "expires (`ExportLinkOut`), however small. Without it the file is the answer, "
        "except where the API runs as an Azure Function and more attempts match than "
        "`EXPORT_LINK_THRESHOLD_ROWS`: those are answered with a link too.",
    ),
]


def _answers(media_type: str, what: str) -> dict[int | str, dict[str, object]]:
    """The OpenAPI description of a download's 200: the file, or a link to it."""
    return {
        200: {
            "model": links.ExportLinkOut,
            "description": f"{what}, or, asked with `delivery=link` or too large to answer "
            "directly (see `delivery`), a link to the file as `ExportLinkOut`.",
            "content": {media_type: {}, "application/json": {}},
        }
    }


@routes.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses=_answers("text/csv", "The attempts as CSV"),
)
def export_csv(
    *,
    caller: Caller,
    request: Request,
    runtime: RuntimeDep,
    filters: Filter,
    asked: LinkAsked = None,
) -> Response:
    """Every matching attempt, latest first, as CSV: a header row, then one row per
    attempt with the fields of a history entry (`amount` and `currency` apart). At most
    1,000,000 attempts (`MAX_EXPORT_ROWS`), and where the API runs as an Azure Function
    without an export store, 10,000: past that, narrow the filters (the problem names
    the cap)."""
    export = _export(caller, request, runtime, filters, "csv", link_asked=asked == "link")
    return _send(
        export,
        runtime,
        csv_file.csv_chunks(export.pages),
        media_type="text/csv; charset=utf-8",
        filename=_filename(export.customer_id, runtime.clock.now(), "csv"),
    )


@routes.get(
    "/export.pdf",
    response_class=StreamingResponse,
    responses=_answers("application/pdf", "The attempts as PDF"),
)
def export_pdf(
    *,
    caller: Caller,
    request: Request,
    runtime: RuntimeDep,
    filters: Filter,
    asked: LinkAsked = None,
) -> Response:
    """Every matching attempt, latest first, as a PDF report: the customer, the filters
    and the time of generation, then a table with its headings and a page number on
    every page. At most 1,000,000 attempts (`MAX_EXPORT_ROWS`), and where the API runs
    as an Azure Function without an export store, 10,000: past that, narrow the filters
    (the problem names the cap)."""
    export = _export(caller, request, runtime, filters, "pdf", link_asked=asked == "link")
    now = runtime.clock.now()
    chunks = pdf_report.pdf_chunks(
        export.pages, customer_id=export.customer_id, filters=filters.described(), generated_at=now
    )
    return _send(
        export,
        runtime,
        chunks,
        media_type="application/pdf",
        filename=_filename(export.customer_id, now, "pdf"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Export:
    """A download allowed and audited: whose, how it goes out (`link_name`, its name in
    the export store, when by link), and its attempts, read lazily a page at a time."""

    customer_id: str
    link_name: str | None
    pages: Iterator[list[schemas.HistoryEntryOut]]


def _export(
    caller: Principal,
    request: Request,
    runtime: Runtime,
    filters: HistoryFilter,
    form: str,
    *,
    link_asked: bool,
) -> _Export:
    """The download of the caller's customer's attempts: its delivery chosen, and
    refused now, before anything is sent or written, when it may not be had."""
    customer_id = customer_of(caller)
    limits = _limits(request, runtime)
    has_store = runtime.exports is not None
    with runtime.unit_of_work() as uow:
        matching = uow.history.count_for_customer(
            filters.of(customer_id), at_most=limits.to_count(links=has_store)
        )
        chosen = delivery.choose(matching, link_asked=link_asked, links=has_store, limits=limits)
        link_name = links.new_name(form) if chosen is delivery.Delivery.LINK else None
        details: dict[str, object] = {
            "filters": filters.described(),
            "format": form,
            "rows": matching,
        }
        if link_name is not None:
            details |= {"delivery": "link", "export": link_name}
        commit_channel_read(
            uow,
            caller=caller,
            request=request,
            at=runtime.clock.now(),
            action="history.exported",
            subject_type="execution_attempt",
            details=details,
        )

    return _Export(
        customer_id=customer_id,
        link_name=link_name,
        pages=export_pages(runtime, filters.of(customer_id), cap=limits.cap(chosen)),
    )


def export_pages(
    runtime: Runtime, query: HistoryQuery, *, cap: int
) -> Iterator[list[schemas.HistoryEntryOut]]:
    """The attempts `query` selects, latest first, at most `cap`, as a download shows
    them: read lazily, `EXPORT_PAGE_ROWS` at a time, each page in its own transaction."""

    def read(after: tuple[datetime, int] | None, limit: int) -> Sequence[HistoryEntry]:
        with runtime.unit_of_work() as uow:
            return uow.history.page_for_customer(query, after=after, limit=limit)

    for page in keyset.pages(read, _position, page_size=EXPORT_PAGE_ROWS, cap=cap):
        yield [_out(entry) for entry in page]


def _limits(request: Request, runtime: Runtime) -> delivery.Limits:
    """The limits of a download from the app serving `request`: `MAX_EXPORT_ROWS` (read
    now, not when the app was built), the `max_export_rows` a host that holds whole
    responses built it with, and there, `EXPORT_LINK_THRESHOLD_ROWS`."""
    cap: int | None = request.app.state.max_export_rows
    return delivery.Limits(
        most=MAX_EXPORT_ROWS,
        in_response=MAX_EXPORT_ROWS if cap is None else cap,
        link_above=None if cap is None else runtime.settings.export_link_threshold_rows,
    )


def _send(
    export: _Export, runtime: Runtime, chunks: Iterator[bytes], *, media_type: str, filename: str
) -> Response:
    """The download as the response's body, or written to the export store and
    answered with a link."""
    if export.link_name is not None and runtime.exports is not None:
        return links.answer(
            runtime.exports,
            export.link_name,
            chunks,
            media_type=media_type,
            filename=filename,
            clock=runtime.clock,
            lifetime=timedelta(seconds=runtime.settings.export_link_seconds),
        )
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
    """An attempt as the API and its downloads show it: accounts masked."""
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

"""The history as CSV and PDF downloads: the customer's attempts only, the same filters
and fields as the JSON listing, formula-safe CSV, a PDF with its header, headings and
page numbers on every page, and every refusal a problem document."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from bench.export_memory import seed_attempts
from scheduler import bootstrap
from scheduler.api import history_routes, schemas
from scheduler.api.exports import csv_file, pdf_report
from scheduler.domain.money import Money
from tests.unit.api.conftest import NOW, Headers

#: Alice's attempts: two full PDF pages and one row on a third.
ALICES = pdf_report.FIRST_PAGE_ROWS + pdf_report.ROWS_PER_PAGE + 1
BOBS_AMOUNT = "777.77"


@pytest.fixture
def seeded(runtime: bootstrap.Runtime) -> None:
    """ALICES attempts of Alice at 1.00, 1.01, ... GBP (every seventh declined, with a
    formula-like recommended action) and two of Bob's at BOBS_AMOUNT."""
    amounts = [Money.of(f"{1 + number / 100:.2f}", "GBP") for number in range(ALICES)]
    seed_attempts(runtime.engine, "alice", amounts, first_finished_at=NOW)
    bobs = [Money.of(BOBS_AMOUNT, "GBP")] * 2
    seed_attempts(runtime.engine, "bob", bobs, first_finished_at=NOW - timedelta(hours=1))


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def _all_items(client: TestClient, headers: Headers, customer: str) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"limit": "100"} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/history", params=params, headers=headers(customer=customer)).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def _flat(item: dict[str, object]) -> dict[str, str]:
    """A JSON history entry as CSV cells: amount apart, None empty, formulas defused."""
    amount = item.pop("amount")
    assert isinstance(amount, dict)
    item |= {"amount": amount["value"], "currency": amount["currency"]}
    cells = {name: "" if value is None else str(value) for name, value in item.items()}
    return {
        name: "'" + text if text.startswith(("=", "+", "-", "@")) else text
        for name, text in cells.items()
    }


def test_the_csv_holds_every_attempt_of_the_customer_with_the_listings_fields(
    client: TestClient, headers: Headers, seeded: None
) -> None:
    response = client.get("/v1/history/export.csv", headers=headers())

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        'attachment; filename="history-alice-20270101T120000Z.csv"'
    )
    assert response.text.splitlines()[0] == ",".join(csv_file.COLUMNS)
    rows = _csv_rows(response.text)
    assert rows == [_flat(item) for item in _all_items(client, headers, "alice")]
    assert len(rows) == ALICES
    assert rows[0]["debit_account"] == "****0001"
    assert {row["recommended_action"] for row in rows} == {
        "",
        "'=Top up the account, then wait for the retry",
    }


def test_an_export_never_holds_another_customers_attempts(
    client: TestClient, headers: Headers, seeded: None
) -> None:
    alices_csv = client.get("/v1/history/export.csv", headers=headers()).text
    alices_pdf = _pdf_text(client.get("/v1/history/export.pdf", headers=headers()).content)
    bobs_csv = client.get("/v1/history/export.csv", headers=headers(customer="bob")).text
    bob_ids = {item["id"] for item in _all_items(client, headers, "bob")}

    assert {row["id"] for row in _csv_rows(alices_csv)}.isdisjoint(str(i) for i in bob_ids)
    assert BOBS_AMOUNT not in alices_csv
    assert BOBS_AMOUNT not in alices_pdf
    assert [row["amount"] for row in _csv_rows(bobs_csv)] == [BOBS_AMOUNT, BOBS_AMOUNT]


def test_the_exports_apply_the_listings_filters(
    client: TestClient, headers: Headers, seeded: None
) -> None:
    params = {"amount_min": "1.10", "amount_max": "1.20", "status": "retry_wait"}

    listed = client.get("/v1/history", params=params, headers=headers()).json()["items"]
    exported = _csv_rows(
        client.get("/v1/history/export.csv", params=params, headers=headers()).text
    )
    pdf = client.get("/v1/history/export.pdf", params=params, headers=headers()).content

    assert [row["amount"] for row in exported] == ["1.20", "1.13"]
    assert [row["id"] for row in exported] == [str(item["id"]) for item in listed]
    assert "Filters: status=retry_wait, amount_min=1.10, amount_max=1.20" in _pdf_text(pdf)


def test_the_pdf_has_a_header_and_on_every_page_headings_and_a_page_number(
    client: TestClient, headers: Headers, seeded: None
) -> None:
    response = client.get("/v1/history/export.pdf", headers=headers())
    reader = PdfReader(io.BytesIO(response.content), strict=True)
    pages = [page.extract_text() for page in reader.pages]

    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        'attachment; filename="history-alice-20270101T120000Z.pdf"'
    )
    assert len(pages) == 3 == pdf_report.page_count(ALICES)
    assert "Execution history" in pages[0]
    assert "Customer: alice" in pages[0]
    assert "Filters: none" in pages[0]
    assert "Generated 2027-01-01 12:00:00 UTC" in pages[0]
    for number, text in enumerate(pages, start=1):
        assert all(column.heading in text for column in pdf_report.COLUMNS)
        assert f"Page {number}" in text
    text = "\n".join(pages)
    for number in range(ALICES):
        assert f"{1 + number / 100:.2f}" in text
        assert number % 7 == 6 or f"GW-{number:09d}" in text
    assert 'Insufficient funds: "balance" (GBP) belo…' in text
    assert "=Top up the account, then wait for the r…" in text


def test_a_pdf_without_attempts_says_so(client: TestClient, headers: Headers) -> None:
    content = client.get("/v1/history/export.pdf", headers=headers()).content

    assert "No attempts match." in _pdf_text(content)


def test_the_table_fills_the_width_between_the_margins() -> None:
    assert sum(column.width for column in pdf_report.COLUMNS) == 842 - 2 * 36


@pytest.mark.parametrize("extension", ["csv", "pdf"])
def test_an_export_without_a_token_is_a_401_problem(client: TestClient, extension: str) -> None:
    response = client.get(f"/v1/history/export.{extension}")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("extension", ["csv", "pdf"])
def test_an_export_with_an_invalid_amount_is_a_422_problem(
    client: TestClient, headers: Headers, extension: str
) -> None:
    response = client.get(
        f"/v1/history/export.{extension}", params={"amount_min": "-5"}, headers=headers()
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:tsched:problem:invalid_amount_range"
    assert response.json()["errors"] == [
        {"field": "amount_min", "message": "amount_min must not be negative"}
    ]


@pytest.mark.parametrize("extension", ["csv", "pdf"])
def test_an_export_over_the_cap_is_refused_before_it_starts(
    client: TestClient,
    headers: Headers,
    seeded: None,
    monkeypatch: pytest.MonkeyPatch,
    extension: str,
) -> None:
    monkeypatch.setattr(history_routes, "MAX_EXPORT_ROWS", ALICES - 1)
    refused = client.get(f"/v1/history/export.{extension}", headers=headers())
    monkeypatch.setattr(history_routes, "MAX_EXPORT_ROWS", ALICES)
    accepted = client.get(f"/v1/history/export.{extension}", headers=headers())

    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:tsched:problem:export_too_large"
    assert accepted.status_code == 200


def _entry(**text: str) -> schemas.HistoryEntryOut:
    fields: dict[str, Any] = {
        "id": 1,
        "operation_id": uuid.uuid4(),
        "schedule_id": uuid.uuid4(),
        "kind": "execution",
        "attempt": 1,
        "status": "failed",
        "due_at": NOW,
        "started_at": NOW,
        "finished_at": NOW,
        "amount": schemas.AmountIn(value="12.30", currency="GBP"),
        "debit_account": "****1234",
        "credit_account": "****5678",
        "error_code": None,
        "reason": None,
        "recommended_action": None,
        "gateway_reference": None,
    }
    return schemas.HistoryEntryOut(**(fields | text))


def _csv_cells(entry: schemas.HistoryEntryOut) -> dict[str, str]:
    text = b"".join(csv_file.csv_chunks([[entry]])).decode()
    [header, row] = list(csv.reader(io.StringIO(text, newline="")))
    return dict(zip(header, row, strict=True))


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("https://example.com/x","Click")',
        "+1+1",
        "-1+1",
        "@SUM(A1:A9)",
        "\tREF",
        "\rREF",
    ],
)
def test_csv_cells_a_spreadsheet_would_run_get_an_apostrophe(text: str) -> None:
    cells = _csv_cells(_entry(reason=text, recommended_action=text, gateway_reference=text))

    assert [cells[name] for name in ("reason", "recommended_action", "gateway_reference")] == [
        "'" + text
    ] * 3


def test_csv_cells_keep_other_text_and_values_as_the_listing_writes_them() -> None:
    cells = _csv_cells(_entry(reason='Declined, "insufficient funds"\r\nretry = tomorrow'))

    assert cells["reason"] == 'Declined, "insufficient funds"\r\nretry = tomorrow'
    assert cells["amount"] == "12.30"
    assert cells["currency"] == "GBP"
    assert cells["finished_at"] == "2027-01-01T12:00:00Z"
    assert cells["error_code"] == ""


def _pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)

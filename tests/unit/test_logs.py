"""Logs as JSON lines, with the correlation id of what is being handled and nothing a
log must not hold: bearer tokens and JWTs become ***, IBANs keep their last four."""

from __future__ import annotations

import json
import logging

import pytest

from scheduler import logs
from tests.support.log_scan import leaks

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"Authorization: Bearer {JWT}", "Authorization: Bearer ***"),
        (f"token {JWT} refused", "token *** refused"),
        ("from DE89370400440532013000 to GB29NWBK60161331926819", "from ****3000 to ****6819"),
        ("paid 12.50 EUR on 2027-01-04", "paid 12.50 EUR on 2027-01-04"),
    ],
)
def test_mask_hides_tokens_and_ibans(text: str, masked: str) -> None:
    assert logs.mask(text) == masked


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("scheduler.x", logging.WARNING, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_record_is_one_json_line_with_its_extra_fields_and_correlation_id() -> None:
    token = logs.correlation_id.set("4bf92f3577b34da6a3ce929d0e0e4736")
    try:
        line = logs.JsonFormatter().format(
            _record("sent %d to %s", 3, "DE89370400440532013000", queue="operations-dead")
        )
    finally:
        logs.correlation_id.reset(token)

    document = json.loads(line)
    assert "\n" not in line
    assert document["level"] == "WARNING"
    assert document["logger"] == "scheduler.x"
    assert document["message"] == "sent 3 to ****3000"
    assert document["queue"] == "operations-dead"
    assert document["correlation_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert document["time"].endswith("+00:00")


def test_extra_fields_are_masked_too() -> None:
    line = logs.JsonFormatter().format(_record("refused", header=f"Bearer {JWT}"))

    assert json.loads(line)["header"] == "Bearer ***"
    assert leaks([line]) == []


def test_the_masking_filter_masks_records_others_format() -> None:
    record = _record("auth %s", f"Bearer {JWT}")

    assert logs.MaskingFilter().filter(record)
    assert record.getMessage() == "auth Bearer ***"


def test_the_scan_finds_what_the_mask_would_not_see() -> None:
    lines = [
        '{"message": "debit GB-DEBIT-1 failed"}',
        '{"message": "Bearer abcdefghijkl"}',
        '{"message": "paid ****IT-1"}',
        '{"message": "Bearer ***"}',
    ]

    assert leaks(lines) == lines[:2]

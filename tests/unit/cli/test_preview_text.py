"""`tsched preview` reads schedule documents with the API's shapes, so it refuses the
characters the API refuses (`domain.text`), naming the field, as the API does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import run
from tests.support.schedules import MORTGAGE

AFTER = ["--after", "2027-01-01T00:00:00Z"]


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            MORTGAGE | {"reference": "Rent\u202eMarch"},
            "reference: character 5, U+202E, is a bidirectional embedding or override",
        ),
        (
            MORTGAGE | {"credit_account": "GB-CREDIT\x00-1"},
            "credit_account: character 10, U+0000, is a control character",
        ),
        (
            MORTGAGE | {"business_days": {"calendar": "GB\x1b-ENG"}},
            "business_days.calendar: character 3, U+001B, is a control character",
        ),
    ],
    ids=["reference", "credit_account", "calendar"],
)
def test_a_document_with_a_refused_character_exits_2_naming_the_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, document: dict[str, object], message: str
) -> None:
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(document), encoding="utf-8")

    status, out, err = run(capsys, "preview", "--file", str(path), *AFTER)

    assert (status, out, err) == (2, "", f"tsched: {message}\n")


def test_a_document_with_ordinary_unicode_previews(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(MORTGAGE | {"reference": "家賃 🏠 déc."}), encoding="utf-8")

    status, _, err = run(capsys, "preview", "--file", str(path), *AFTER)

    assert (status, err) == (0, "")

"""The text rule: which characters free text from callers may not hold, and why."""

from __future__ import annotations

import pytest

from scheduler.domain import errors, text


@pytest.mark.parametrize(
    ("code_point", "reason"),
    [
        (0x0000, "a control character"),
        (0x0009, "a control character"),
        (0x000A, "a control character"),
        (0x000D, "a control character"),
        (0x001B, "a control character"),
        (0x001F, "a control character"),
        (0x007F, "a control character"),
        (0x0080, "a control character"),
        (0x0085, "a control character"),
        (0x009F, "a control character"),
        (0x2028, "a line or paragraph separator"),
        (0x2029, "a line or paragraph separator"),
        (0x202A, "a bidirectional embedding or override"),
        (0x202E, "a bidirectional embedding or override"),
        (0x2066, "a bidirectional isolate"),
        (0x2069, "a bidirectional isolate"),
        (0xD800, "a lone surrogate, not a character"),
        (0xDFFF, "a lone surrogate, not a character"),
    ],
)
def test_each_refused_character_is_found_with_its_place_and_reason(
    code_point: int, reason: str
) -> None:
    found = text.first_forbidden(f"Rent{chr(code_point)}March")

    assert found == text.Forbidden(position=4, code_point=code_point, reason=reason)
    assert str(found) == f"character 5, U+{code_point:04X}, is {reason}"


#: The neighbours of each refused range, and the invisible characters text needs: the
#: zero-width joiner of emoji sequences, the implicit direction marks, a variation selector.
ALLOWED = (0x0020, 0x007E, 0x00A0, 0x00E9, 0x200B, 0x200D, 0x200E, 0x200F, 0x061C, 0x2027)
ALLOWED_TOO = (0x202F, 0x2065, 0x206A, 0xD7FF, 0xE000, 0xFE0F, 0xFEFF, 0x1F600)


@pytest.mark.parametrize("code_point", [*ALLOWED, *ALLOWED_TOO])
def test_the_characters_around_each_refused_range_are_allowed(code_point: int) -> None:
    assert text.first_forbidden(f"a{chr(code_point)}b") is None


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Loyer de décembre, Ærøskøbing",
        "家賃 十二月 월세",
        "Rent 🏠 👩‍👩‍👧 ❤️",
        "שכר דירה إيجار",
    ],
    ids=["empty", "accents", "cjk", "emoji", "right-to-left"],
)
def test_ordinary_unicode_is_plain_text(value: str) -> None:
    assert text.require_plain(value, field="reference") is value


def test_the_first_of_several_refused_characters_is_reported() -> None:
    found = text.first_forbidden("ok\u202etxt.exe\x00")

    assert found is not None
    assert (found.position, found.code_point) == (2, 0x202E)


def test_refused_text_raises_a_validation_error_naming_the_field_not_quoting_it() -> None:
    with pytest.raises(errors.ForbiddenCharacter) as raised:
        text.require_plain("secret\x1b[2J", field="reference")

    error = raised.value
    assert isinstance(error, errors.ValidationError)
    assert error.code == "forbidden_character"
    assert (error.field, error.position, error.code_point) == ("reference", 6, 0x1B)
    assert error.message == "reference: character 7, U+001B, is a control character"
    assert "secret" not in error.message

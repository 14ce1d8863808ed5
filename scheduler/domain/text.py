"""Free text from callers: the characters it may not hold, and why.

What a caller writes (a schedule's reference, a re-drive's reason, the ids it sends in
headers) is stored, shown to customers and staff, written to the audit trail, logs and
exports, and sent on to the bank's systems. Characters that are not text there are
refused, never removed, so that what is kept is exactly what was sent:

- **Control characters**: C0 (U+0000-U+001F, TAB, LF and CR included), DEL (U+007F)
  and C1 (U+0080-U+009F). NUL cannot be stored in a PostgreSQL text value at all; ESC
  and the C1 CSI drive terminals; CR and LF forge lines in logs, CSV exports and
  statements. No field takes more than one line: a reference is SEPA remittance
  information (one line, whose character set has no controls), a reason is a note of
  one line, and the rest are ids.
- **Line and paragraph separators** (U+2028, U+2029): line breaks by other names.
- **Bidirectional embeddings and overrides** (U+202A-U+202E) **and isolates**
  (U+2066-U+2069): they reorder how the text after them is displayed, so a reference
  could show staff something other than what it holds ("Trojan Source",
  CVE-2021-42574). Right-to-left scripts do not need them: the Unicode bidirectional
  algorithm orders Arabic or Hebrew by their letters. The marks LRM, RLM and ALM
  (U+200E, U+200F, U+061C), which act as one invisible letter and reorder nothing
  beyond, are allowed.
- **Lone surrogates** (U+D800-U+DFFF): halves of a UTF-16 pair, which a JSON `\\ud800`
  escape can carry; they are not characters, and UTF-8 cannot encode them to store.

Everything else is allowed: accents, CJK, emoji with their joiners and variation
selectors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scheduler.domain import errors

#: Each refused range of code points, first and last included, and why it is refused.
REFUSED: tuple[tuple[int, int, str], ...] = (
    (0x0000, 0x001F, "a control character"),
    (0x007F, 0x009F, "a control character"),
    (0x2028, 0x2029, "a line or paragraph separator"),
    (0x202A, 0x202E, "a bidirectional embedding or override"),
    (0x2066, 0x2069, "a bidirectional isolate"),
    (0xD800, 0xDFFF, "a lone surrogate, not a character"),
)

_REFUSED = re.compile(
    "["
    + "".join(f"{re.escape(chr(first))}-{re.escape(chr(last))}" for first, last, _ in REFUSED)
    + "]"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Forbidden:
    """The first refused character of a text: where (0-based), which, and why."""

    position: int
    code_point: int
    reason: str

    def __str__(self) -> str:
        # Names the code point, never the text around it: a problem may end up in logs.
        return f"character {self.position + 1}, U+{self.code_point:04X}, is {self.reason}"


def first_forbidden(value: str) -> Forbidden | None:
    """The first character of `value` this module refuses, or None if there is none."""
    found = _REFUSED.search(value)
    if found is None:
        return None
    code_point = ord(found.group())
    reason = next(why for first, last, why in REFUSED if first <= code_point <= last)
    return Forbidden(position=found.start(), code_point=code_point, reason=reason)


def require_plain(value: str, *, field: str) -> str:
    """`value` itself if it holds no refused character; else raises
    `ForbiddenCharacter` naming `field`."""
    found = first_forbidden(value)
    if found is not None:
        raise errors.ForbiddenCharacter(
            f"{field}: {found}",
            field=field,
            position=found.position,
            code_point=found.code_point,
        )
    return value

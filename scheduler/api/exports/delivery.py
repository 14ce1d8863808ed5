"""How a history download reaches its caller: in the response, or written to the export
store and answered with a link to it (`links`).

The response is the default. A link is given when the caller asks for one
(`?delivery=link`), and unasked where the host holds a whole response in memory before
sending it (Azure Functions): there a download of more rows than a response there may
hold (`EXPORT_LINK_THRESHOLD_ROWS`, at most the host's cap) goes by link. Without an
export store (`BLOB_ACCOUNT_URL` unset) there are no links: asking for one is refused,
and the host's cap refuses a larger download as before.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from scheduler.domain import errors


class ExportTooLarge(errors.ValidationError):
    """More attempts match than one download may hold."""

    code = "export_too_large"


class ExportLinksUnavailable(errors.ValidationError):
    """Downloads by link are not offered here."""

    code = "export_links_unavailable"


class Delivery(enum.Enum):
    """The way a download goes out."""

    #: The file is the response's body.
    RESPONSE = "response"
    #: The file is written to the export store; the response says where.
    LINK = "link"


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Row counts that decide a download's delivery.

    `most`: the most any download holds, by link or not (`MAX_EXPORT_ROWS`).
    `in_response`: the most a response holds (the host's cap, else `most`).
    `link_above`: past this many rows a download goes by link unasked (None: never,
    as where responses stream)."""

    most: int
    in_response: int
    link_above: int | None

    def to_count(self, *, links: bool) -> int:
        """How far to count matching rows to decide: one past the most a download of
        either kind may hold."""
        return (max(self.most, self.in_response) if links else self.in_response) + 1

    def cap(self, delivery: Delivery) -> int:
        """The most rows a download delivered by `delivery` holds."""
        return self.most if delivery is Delivery.LINK else self.in_response


def choose(rows: int, *, link_asked: bool, links: bool, limits: Limits) -> Delivery:
    """The delivery of a download of `rows` rows, the caller having asked for a link or
    not, where links can (`links`) or cannot be given. Raises `ExportLinksUnavailable`
    for a link asked where none can be given, and `ExportTooLarge`, naming the cap, for
    more rows than the chosen delivery may hold."""
    if link_asked and not links:
        raise ExportLinksUnavailable(
            "downloads by link are not offered here (no export store is configured): "
            "ask without delivery=link",
            field="delivery",
        )
    by_link = links and (
        link_asked
        or (limits.link_above is not None and rows > min(limits.link_above, limits.in_response))
    )
    chosen = Delivery.LINK if by_link else Delivery.RESPONSE
    cap = limits.cap(chosen)
    if rows > cap:
        raise ExportTooLarge(
            f"more than {cap} attempts match: narrow the filters, e.g. from and to"
        )
    return chosen

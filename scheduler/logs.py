"""Logs a machine reads: one JSON object a line, with the correlation id of the request
or message being handled, and no secret or account number in it.

`JsonFormatter` writes a record's time (UTC), level, logger, message, the fields given as
`extra=`, the correlation id (`correlation_id`, a context variable the API and the
Service Bus function set), and the exception if any. `mask` is applied to every text it
writes, and `MaskingFilter` applies it to records bound for handlers we do not format
(the Functions host's): a bearer token or a JWT becomes `***`, and an IBAN keeps its
last four characters. Code should not log either in the first place; this is the net.
"""

from __future__ import annotations

import json
import logging
import re
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

#: The correlation id of what this context handles: a request's trace id or
#: X-Request-Id, a command message's correlation id.
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
#: An IBAN (ISO 13616): country, check digits, up to 30 letters and digits.
_IBAN = re.compile(r"\b([A-Z]{2}\d{2}[A-Z0-9]{7,26})([A-Z0-9]{4})\b")

#: The attributes every `LogRecord` has; any other was given as `extra=`.
_STANDARD = frozenset(
    {*vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)), "message", "asctime"}
)


def mask(text: str) -> str:
    """`text` with bearer tokens and JWTs replaced by `***` and each IBAN cut to its
    last four characters."""
    text = _BEARER.sub(r"\1***", text)
    text = _JWT.sub("***", text)
    return _IBAN.sub(lambda match: "****" + match[2], text)


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON (masked)."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        current = correlation_id.get()
        if current is not None:
            document["correlation_id"] = current
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in document:
                document[key] = _masked(value)
        if record.exc_info:
            document["exception"] = mask(self.formatException(record.exc_info))
        return json.dumps(document, ensure_ascii=False, default=str)


class MaskingFilter(logging.Filter):
    """Masks a record's message and arguments in place, for handlers formatted by
    someone else (the Functions host)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        return True


def use_json(level: int) -> None:
    """Log at `level` and above to standard error as JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)


def mask_all_handlers() -> None:
    """Add `MaskingFilter` to every handler of the root logger (once each)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(existing, MaskingFilter) for existing in handler.filters):
            handler.addFilter(MaskingFilter())


def _masked(value: object) -> object:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value

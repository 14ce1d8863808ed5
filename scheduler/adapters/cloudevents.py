"""Our events as CloudEvents 1.0 in the structured JSON format (the Kafka message value).

    {"data": {"amount": "1250.00", "customer_id": "customer-7",
              "schedule_id": "5f0c...", ...},
     "datacontenttype": "application/json",
     "dataschema": "urn:tsched:events:com.tsched.execution.succeeded.v1:v1",
     "id": "0b5e...", "source": "/tsched/schedules", "specversion": "1.0",
     "subject": "5f0c...", "time": "2027-01-29T09:00:00Z",
     "type": "com.tsched.execution.succeeded.v1"}

* `id` is the event id, the same on every delivery of the event: consumers de-duplicate
  on it (the spec lets them treat equal `source` + `id` as the same event; our ids are
  UUIDs, unique across sources too).
* `source` is the same for every event: the collection of schedules. `subject` is the
  schedule the event is about, as the spec's "source is the container, subject the
  item" pattern has it; it is also the Kafka key.
* `data` is the event's data plus `customer_id` and `schedule_id`, so a consumer needs
  only `data`. Amounts stay decimal strings: nothing is converted to a JSON number.
* `dataschema` names the schema of `data`, versioned by `events.SCHEMA_VERSION`.
* `traceparent` (the CloudEvents distributed-tracing extension) is the W3C trace context
  the event was written in, when it was written in a trace (`scheduler.tracing`): a
  consumer's span continues the trace of the request and the attempt behind the event.

Pure functions, no I/O.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from scheduler.domain.events import SCHEMA_VERSION, Event

SPEC_VERSION = "1.0"
SOURCE = "/tsched/schedules"
#: The media type of a structured-mode message (CloudEvents JSON format, section 3).
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
DATA_CONTENT_TYPE = "application/json"


def dataschema(event: Event) -> str:
    """The URI naming the schema of `event`'s data, e.g.
    ``urn:tsched:events:com.tsched.schedule.created.v1:v1``."""
    return f"urn:tsched:events:{event.type.value}:v{SCHEMA_VERSION}"


def time(event: Event) -> str:
    """`event.occurred_at` as an RFC 3339 UTC timestamp with a ``Z``, microseconds
    only when there are any. Raises ValueError for a naive datetime."""
    occurred_at = event.occurred_at
    if occurred_at.tzinfo is None or occurred_at.utcoffset() is None:
        raise ValueError(f"event {event.event_id} has a naive occurred_at")
    text = occurred_at.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"


def data(event: Event) -> dict[str, Any]:
    """The CloudEvent's `data`: `event.data` plus `customer_id` and `schedule_id`.
    Raises ValueError if `event.data` holds either key with a different value."""
    merged = dict(event.data)
    for key, value in (("customer_id", event.customer_id), ("schedule_id", str(event.schedule_id))):
        if merged.setdefault(key, value) != value:
            raise ValueError(f"event {event.event_id} data has a conflicting {key!r}")
    return merged


def to_cloudevent(event: Event) -> dict[str, Any]:
    """`event` as a CloudEvents 1.0 structured-format JSON object (not yet encoded)."""
    document = {
        "specversion": SPEC_VERSION,
        "id": str(event.event_id),
        "source": SOURCE,
        "type": event.type.value,
        "subject": str(event.schedule_id),
        "time": time(event),
        "datacontenttype": DATA_CONTENT_TYPE,
        "dataschema": dataschema(event),
        "data": data(event),
    }
    if event.traceparent is not None:
        document["traceparent"] = event.traceparent
    return document


def encode(event: Event) -> bytes:
    """`to_cloudevent(event)` as compact UTF-8 JSON with sorted keys: the same event
    always encodes to the same bytes. Raises TypeError for data that is not JSON-ready
    (a `Decimal`, a `datetime`) and ValueError for NaN or infinity."""
    return json.dumps(
        to_cloudevent(event),
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")

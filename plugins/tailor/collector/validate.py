"""The shape of a track or identify call; a call that breaks it is refused with the reason.

Only what staging relies on is checked (ids, the timestamp, types of the objects); fields
a sender adds are kept. Limits are Segment's: 32 KB per call, 500 KB per batch.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_CALL_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_ID_LENGTH = 200
# a device clock this far ahead of ours is wrong, and its events would land in no interval
MAX_CLOCK_SKEW = timedelta(days=1)
TYPES = ("track", "identify")
ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


class InvalidEvent(ValueError):
    """Why a call cannot be accepted."""


def _text(call: dict[str, Any], name: str, required: bool) -> str | None:
    value = call.get(name)
    if value is None or value == "":
        if required:
            raise InvalidEvent(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{name} must be a string, got {type(value).__name__}")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidEvent(f"{name} is longer than {MAX_ID_LENGTH} characters")
    return value


def _object(call: dict[str, Any], name: str) -> None:
    value = call.get(name)
    if value is not None and not isinstance(value, dict):
        raise InvalidEvent(f"{name} must be an object, got {type(value).__name__}")


def event_time(value: Any) -> datetime:
    if not isinstance(value, str) or not ISO_INSTANT.match(value):
        shown = str(value)[:40]
        raise InvalidEvent(f"timestamp must be an ISO-8601 instant with a zone: {shown!r}")
    # Python 3.11 reads up to 6 fraction digits; finer ones do not change the order of events
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.replace("Z", "+00:00"))
    return datetime.fromisoformat(text).astimezone(UTC)


def check_call(call: Any, expected_type: str | None, received_at: datetime) -> datetime:
    """Raise InvalidEvent when `call` breaks the shape; return its event time (UTC)."""
    if not isinstance(call, dict):
        raise InvalidEvent(f"a call must be an object, got {type(call).__name__}")
    kind = call.get("type")
    if kind not in TYPES:
        raise InvalidEvent(f"type must be one of {', '.join(TYPES)}, got {str(kind)[:20]!r}")
    if expected_type and kind != expected_type:
        raise InvalidEvent(f"type {kind!r} sent to the {expected_type} endpoint")
    _text(call, "messageId", required=True)
    user_id = _text(call, "userId", required=False)
    anonymous_id = _text(call, "anonymousId", required=False)
    if user_id is None and anonymous_id is None:
        raise InvalidEvent("userId or anonymousId is required")
    if kind == "track":
        _text(call, "event", required=True)
        _object(call, "properties")
    else:
        _object(call, "traits")
        email = (call.get("traits") or {}).get("email")
        if email is not None and not isinstance(email, str):
            raise InvalidEvent("traits.email must be a string")
    _object(call, "context")
    occurred = event_time(call.get("timestamp"))
    if occurred > received_at + MAX_CLOCK_SKEW:
        raise InvalidEvent(f"timestamp {call['timestamp']} is more than a day in the future")
    return occurred

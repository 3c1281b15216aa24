"""Input validation for requests, pure. Every failure names the field."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .canonical import canonical_json
from .errors import InvalidArgument
from .records import StartRequest

ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
KIND_PATTERN = re.compile(r"^[A-Za-z0-9._:/-]{1,100}$")
MAX_PROMPT_BYTES = 256 * 1024
MAX_JSON_BYTES = 1024 * 1024  # messages + context frames of one request, as JSON
MAX_EVENT_DATA_BYTES = 256 * 1024
MAX_APPEND_EVENTS = 100
MAX_MESSAGES = 1000
ROLES = frozenset({"system", "user", "assistant", "tool"})


def require_id(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if not ID_PATTERN.match(value):
        raise InvalidArgument(field, "must be 1-128 characters from [A-Za-z0-9._:-]")
    return value


def sha256_hex(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def fingerprint(request: StartRequest) -> str:
    """Identifies a StartRun request: a repeat with the same fingerprint is the same run."""
    return sha256_hex(request.to_json())


def validate_start(request: StartRequest) -> StartRequest:
    require_id("run_id", request.run_id)
    require_id("thread_id", request.thread_id)
    if len(request.user_id) > 256:
        raise InvalidArgument("user_id", "must be at most 256 characters")
    if len(request.autopilot_id) > 256:
        raise InvalidArgument("autopilot_id", "must be at most 256 characters")
    if len(request.prompt.encode("utf-8")) > MAX_PROMPT_BYTES:
        raise InvalidArgument("prompt", f"must be at most {MAX_PROMPT_BYTES} bytes")
    if len(request.messages) > MAX_MESSAGES:
        raise InvalidArgument("messages", f"must have at most {MAX_MESSAGES} entries")
    for i, message in enumerate(request.messages):
        if message.get("role") not in ROLES:
            raise InvalidArgument(f"messages[{i}].role", "must be one of system, user, assistant, tool")
    if not request.prompt.strip() and not _ends_with_user_message(request.messages):
        raise InvalidArgument("prompt", "is required unless messages ends with a user message")
    size = len(canonical_json([list(request.messages), list(request.context_frames)]).encode("utf-8"))
    if size > MAX_JSON_BYTES:
        raise InvalidArgument(
            "messages", f"messages and context_frames must be at most {MAX_JSON_BYTES} bytes"
        )
    for field, names in (
        ("tool_policy.allow", request.tool_policy.allow),
        ("tool_policy.deny", request.tool_policy.deny),
    ):
        for name in names:
            if not KIND_PATTERN.match(name):
                raise InvalidArgument(field, f"{name!r} is not a valid tool name")
    if len(request.model) > 200:
        raise InvalidArgument("model", "must be at most 200 characters")
    return request


def validate_append(kinds_and_data: Sequence[tuple[str, Mapping[str, Any]]], idempotency_key: str) -> None:
    if not idempotency_key:
        raise InvalidArgument("idempotency_key", "is required")
    if len(idempotency_key) > 200:
        raise InvalidArgument("idempotency_key", "must be at most 200 characters")
    if not kinds_and_data:
        raise InvalidArgument("events", "must have at least one event")
    if len(kinds_and_data) > MAX_APPEND_EVENTS:
        raise InvalidArgument("events", f"must have at most {MAX_APPEND_EVENTS} events")
    for i, (kind, data) in enumerate(kinds_and_data):
        if not KIND_PATTERN.match(kind):
            raise InvalidArgument(f"events[{i}].kind", "must be 1-100 characters from [A-Za-z0-9._:/-]")
        if len(canonical_json(data).encode("utf-8")) > MAX_EVENT_DATA_BYTES:
            raise InvalidArgument(
                f"events[{i}].data", f"must be at most {MAX_EVENT_DATA_BYTES} bytes as JSON"
            )


def validate_cursor(field: str, value: int) -> int:
    if value < 0:
        raise InvalidArgument(field, "must not be negative")
    return value


def _ends_with_user_message(messages: Sequence[Mapping[str, Any]]) -> bool:
    return bool(messages) and messages[-1].get("role") == "user"

"""Input validation for requests, pure. Every failure names the field."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .canonical import canonical_json
from .errors import InvalidArgument
from .records import StartRequest

# Run, thread, approval and question ids: 1-128 characters from [A-Za-z0-9._:-], and not
# "." or ".." (they would name a directory in a path). Matched whole (fullmatch: `$` alone
# lets a trailing newline through), so no control character or whitespace gets in.
ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
ID_RULE = "must be 1-128 characters from [A-Za-z0-9._:-], not '.' or '..'"
INT64_MAX = 2**63 - 1
# A cursor (`Last-Event-ID`, `cursor`) or a user id in text: ASCII digits only (str.isdigit
# also accepts other scripts' digits, which int() reads as numbers).
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")
KIND_PATTERN = re.compile(r"[A-Za-z0-9._:/-]{1,100}")
MAX_PROMPT_BYTES = 256 * 1024
MAX_JSON_BYTES = 1024 * 1024  # messages + context frames of one request, as JSON
MAX_EVENT_DATA_BYTES = 256 * 1024
MAX_APPEND_EVENTS = 100
MAX_MESSAGES = 1000
# JSON nesting (objects and arrays) in event data, messages and context frames. protobuf's
# Struct nests about three messages per JSON level and refuses to decode past 100, so JSON
# deeper than ~30 levels is already MALFORMED_REQUEST; 20 is far beyond any real payload.
MAX_JSON_DEPTH = 20
ROLES = frozenset({"system", "user", "assistant", "tool"})


def require_id(field: str, value: str) -> str:
    if not value:
        raise InvalidArgument(field, "is required")
    if not is_valid_id(value):
        raise InvalidArgument(field, ID_RULE)
    return value


def is_valid_id(value: str) -> bool:
    return ID_PATTERN.fullmatch(value) is not None and value not in (".", "..")


def parse_cursor(field: str, text: str) -> int:
    """A cursor sent as text: ASCII digits within int64, nothing else (no sign, no spaces)."""
    if not _ASCII_DIGITS.fullmatch(text) or int(text) > INT64_MAX:
        raise InvalidArgument(field, "must be a sequence number: ASCII digits within int64")
    return int(text)


def canonical_user_id(value: object) -> str:
    """The one form user ids are compared and stored in: the decimal text of a positive
    int64, as Laravel's integer ids are. `42` and `"42"` are the same user; anything else
    (`"042"`, `"alice"`, `true`, `0`) raises ValueError. The empty string means no user."""
    if isinstance(value, bool):
        raise ValueError("a user id is an integer, not a boolean")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValueError("a user id is an integer or its decimal string")
    if not _ASCII_DIGITS.fullmatch(text) or text.startswith("0") or int(text) > INT64_MAX:
        raise ValueError("a user id is a positive int64 in decimal, without leading zeros")
    return text


def sha256_hex(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def fingerprint(request: StartRequest) -> str:
    """Identifies a StartRun request: a repeat with the same fingerprint is the same run."""
    return sha256_hex(request.to_json())


def validate_start(request: StartRequest) -> StartRequest:
    """The request unchanged, or InvalidArgument naming the first bad field (in this order:
    ids, the input, the tool policy and model)."""
    _validate_ids(request)
    _validate_input(request)
    _validate_policy_and_model(request)
    return request


def _validate_ids(request: StartRequest) -> None:
    require_id("run_id", request.run_id)
    require_id("thread_id", request.thread_id)
    if request.user_id:
        try:
            canonical_user_id(request.user_id)
        except ValueError as err:
            raise InvalidArgument("user_id", str(err)) from None
    if len(request.autopilot_id) > 256:
        raise InvalidArgument("autopilot_id", "must be at most 256 characters")


def _validate_input(request: StartRequest) -> None:
    """The prompt, messages and context frames: bounded in size and depth, and something to answer."""
    if len(request.prompt.encode("utf-8")) > MAX_PROMPT_BYTES:
        raise InvalidArgument("prompt", f"must be at most {MAX_PROMPT_BYTES} bytes")
    if len(request.messages) > MAX_MESSAGES:
        raise InvalidArgument("messages", f"must have at most {MAX_MESSAGES} entries")
    for i, message in enumerate(request.messages):
        if message.get("role") not in ROLES:
            raise InvalidArgument(f"messages[{i}].role", "must be one of system, user, assistant, tool")
    if not request.prompt.strip() and not _ends_with_user_message(request.messages):
        raise InvalidArgument("prompt", "is required unless messages ends with a user message")
    require_depth("messages", list(request.messages))
    require_depth("context_frames", list(request.context_frames))
    size = len(canonical_json([list(request.messages), list(request.context_frames)]).encode("utf-8"))
    if size > MAX_JSON_BYTES:
        raise InvalidArgument(
            "messages", f"messages and context_frames must be at most {MAX_JSON_BYTES} bytes"
        )


def _validate_policy_and_model(request: StartRequest) -> None:
    for field, names in (
        ("tool_policy.allow", request.tool_policy.allow),
        ("tool_policy.deny", request.tool_policy.deny),
    ):
        for name in names:
            if not KIND_PATTERN.fullmatch(name):
                raise InvalidArgument(field, f"{name!r} is not a valid tool name")
    if len(request.model) > 200:
        raise InvalidArgument("model", "must be at most 200 characters")


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
        if not KIND_PATTERN.fullmatch(kind):
            raise InvalidArgument(f"events[{i}].kind", "must be 1-100 characters from [A-Za-z0-9._:/-]")
        require_depth(f"events[{i}].data", data)
        if len(canonical_json(data).encode("utf-8")) > MAX_EVENT_DATA_BYTES:
            raise InvalidArgument(
                f"events[{i}].data", f"must be at most {MAX_EVENT_DATA_BYTES} bytes as JSON"
            )


def require_depth(field: str, value: Any) -> None:
    """InvalidArgument when `value` nests objects/arrays deeper than MAX_JSON_DEPTH."""
    level: list[Any] = [value]
    for _ in range(MAX_JSON_DEPTH + 1):
        level = [
            child
            for item in level
            for child in (item.values() if isinstance(item, Mapping) else item)
            if isinstance(child, (Mapping, list, tuple))
        ]
        if not level:
            return
    raise InvalidArgument(field, f"must nest at most {MAX_JSON_DEPTH} levels of objects and arrays")


def validate_cursor(field: str, value: int) -> int:
    if value < 0:
        raise InvalidArgument(field, "must not be negative")
    return value


def _ends_with_user_message(messages: Sequence[Mapping[str, Any]]) -> bool:
    return bool(messages) and messages[-1].get("role") == "user"

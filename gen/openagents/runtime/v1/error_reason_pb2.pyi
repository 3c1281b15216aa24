from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor

class ErrorReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ERROR_REASON_UNSPECIFIED: _ClassVar[ErrorReason]
    ERROR_REASON_INVALID_ARGUMENT: _ClassVar[ErrorReason]
    ERROR_REASON_RUN_NOT_FOUND: _ClassVar[ErrorReason]
    ERROR_REASON_THREAD_NOT_FOUND: _ClassVar[ErrorReason]
    ERROR_REASON_RUN_ALREADY_EXISTS: _ClassVar[ErrorReason]
    ERROR_REASON_SEQ_CONFLICT: _ClassVar[ErrorReason]
    ERROR_REASON_IDEMPOTENCY_KEY_REUSED: _ClassVar[ErrorReason]
    ERROR_REASON_STALE_CURSOR: _ClassVar[ErrorReason]
    ERROR_REASON_INVALID_CURSOR: _ClassVar[ErrorReason]
    ERROR_REASON_RUN_FINISHED: _ClassVar[ErrorReason]
    ERROR_REASON_INVALID_TOKEN: _ClassVar[ErrorReason]
    ERROR_REASON_CLAIM_MISMATCH: _ClassVar[ErrorReason]
    ERROR_REASON_UNKNOWN_MODEL: _ClassVar[ErrorReason]
    ERROR_REASON_DEPENDENCY_UNAVAILABLE: _ClassVar[ErrorReason]
    ERROR_REASON_NOT_READY: _ClassVar[ErrorReason]
    ERROR_REASON_RATE_LIMITED: _ClassVar[ErrorReason]
    ERROR_REASON_NOT_IMPLEMENTED: _ClassVar[ErrorReason]
    ERROR_REASON_INTERNAL: _ClassVar[ErrorReason]
    ERROR_REASON_TOOL_TASK_NOT_FOUND: _ClassVar[ErrorReason]
    ERROR_REASON_APPROVAL_NOT_FOUND: _ClassVar[ErrorReason]
    ERROR_REASON_QUESTION_NOT_FOUND: _ClassVar[ErrorReason]
    ERROR_REASON_ALREADY_DECIDED: _ClassVar[ErrorReason]
ERROR_REASON_UNSPECIFIED: ErrorReason
ERROR_REASON_INVALID_ARGUMENT: ErrorReason
ERROR_REASON_RUN_NOT_FOUND: ErrorReason
ERROR_REASON_THREAD_NOT_FOUND: ErrorReason
ERROR_REASON_RUN_ALREADY_EXISTS: ErrorReason
ERROR_REASON_SEQ_CONFLICT: ErrorReason
ERROR_REASON_IDEMPOTENCY_KEY_REUSED: ErrorReason
ERROR_REASON_STALE_CURSOR: ErrorReason
ERROR_REASON_INVALID_CURSOR: ErrorReason
ERROR_REASON_RUN_FINISHED: ErrorReason
ERROR_REASON_INVALID_TOKEN: ErrorReason
ERROR_REASON_CLAIM_MISMATCH: ErrorReason
ERROR_REASON_UNKNOWN_MODEL: ErrorReason
ERROR_REASON_DEPENDENCY_UNAVAILABLE: ErrorReason
ERROR_REASON_NOT_READY: ErrorReason
ERROR_REASON_RATE_LIMITED: ErrorReason
ERROR_REASON_NOT_IMPLEMENTED: ErrorReason
ERROR_REASON_INTERNAL: ErrorReason
ERROR_REASON_TOOL_TASK_NOT_FOUND: ErrorReason
ERROR_REASON_APPROVAL_NOT_FOUND: ErrorReason
ERROR_REASON_QUESTION_NOT_FOUND: ErrorReason
ERROR_REASON_ALREADY_DECIDED: ErrorReason

"""DomainError → gRPC status with a google.rpc.ErrorInfo in `grpc-status-details-bin`.

Clients (and Envoy's transcoder, which turns it into the JSON error body) read
the reason and metadata from there; the status message is for humans.
"""

from __future__ import annotations

import collections

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped,unused-ignore]
from grpc_status import rpc_status

from ..core.errors import ERROR_DOMAIN, DomainError


def to_rpc_status(err: DomainError) -> grpc.Status:
    """The status to `await context.abort_with_status(...)` for a domain error."""
    info = error_details_pb2.ErrorInfo(reason=err.reason, domain=ERROR_DOMAIN, metadata=dict(err.metadata))
    detail = any_pb2.Any()
    detail.Pack(info)
    code: grpc.StatusCode = grpc.StatusCode[err.code]
    status = status_pb2.Status(code=code.value[0], message=err.message, details=[detail])
    result: grpc.Status = rpc_status.to_status(status)
    retry_after_s = getattr(err, "retry_after_s", None)
    if retry_after_s is not None:
        # Through Envoy, the transcoder passes it on as the HTTP `retry-after` header (429).
        metadata = (*result.trailing_metadata, ("retry-after", str(retry_after_s)))
        result = _Status(result.code, result.details, metadata)
    return result


class _Status(collections.namedtuple("_Status", ("code", "details", "trailing_metadata")), grpc.Status):  # type: ignore[misc]
    """A grpc.Status with extra trailing metadata (as grpc_status builds its own)."""

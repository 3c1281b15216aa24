"""DomainError → gRPC status with a google.rpc.ErrorInfo in `grpc-status-details-bin`.

Clients (and Envoy's transcoder, which turns it into the JSON error body) read
the reason and metadata from there; the status message is for humans.
"""

from __future__ import annotations

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
    return result

"""DomainError → gRPC status with a google.rpc.ErrorInfo in `grpc-status-details-bin`.

Clients (and Envoy's transcoder, which turns it into the JSON error body) read
the reason and metadata from there; the status message is for humans.
"""

from __future__ import annotations

import collections
import contextlib

import grpc
import grpc.aio
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


# Initial metadata asking the gateway for another HTTP status than the transcoder's (its Lua
# filter applies and removes it): 202 for a call that recorded something new, 410 for
# STALE_CURSOR (the transcoder maps FAILED_PRECONDITION to 400).
HTTP_STATUS_HEADER = "x-oa-http-status"


async def abort_with(context: grpc.aio.ServicerContext, err: DomainError) -> None:
    """Ends the call with the error's status; first asks for its HTTP status when it has one
    of its own (`DomainError.http_status`) and nothing was sent yet (a stream that started
    reports failures in-band instead)."""
    if err.http_status is not None:
        # UsageError: the initial metadata already went out with the first message.
        with contextlib.suppress(grpc.aio.UsageError):
            await context.send_initial_metadata(((HTTP_STATUS_HEADER, err.http_status),))
    await context.abort_with_status(to_rpc_status(err))

"""Turns DomainErrors raised by servicer code into gRPC statuses with ErrorInfo."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
import grpc.aio

from ..auth.rpc_status import to_rpc_status
from ..core.errors import DomainError

log = logging.getLogger(__name__)
Req = TypeVar("Req")
Resp = TypeVar("Resp")


class InternalError(DomainError):
    code = "INTERNAL"
    reason = "INTERNAL"


async def abort(context: grpc.aio.ServicerContext, err: DomainError) -> None:
    await context.abort_with_status(to_rpc_status(err))


def _internal(method: str, exc: Exception) -> DomainError:
    request_id = uuid.uuid4().hex[:16]
    log.error("unexpected error", exc_info=exc, extra={"method": method, "request_id": request_id})
    return InternalError("internal error", request_id=request_id)


def unary(
    fn: Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]],
) -> Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]:
    @functools.wraps(fn)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
        try:
            return await fn(self, request, context)
        except DomainError as err:
            await abort(context, err)
        except (grpc.aio.AbortError, grpc.RpcError):
            raise
        except Exception as exc:
            await abort(context, _internal(fn.__name__, exc))
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def streaming(
    fn: Callable[[Any, Req, grpc.aio.ServicerContext], AsyncIterator[Resp]],
) -> Callable[[Any, Req, grpc.aio.ServicerContext], AsyncIterator[Resp]]:
    """For streams whose errors are statuses (before or after the first message)."""

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Req, context: grpc.aio.ServicerContext) -> AsyncIterator[Resp]:
        try:
            async for item in fn(self, request, context):
                yield item
        except DomainError as err:
            await abort(context, err)
        except (grpc.aio.AbortError, grpc.RpcError):
            raise
        except Exception as exc:
            await abort(context, _internal(fn.__name__, exc))

    return wrapper

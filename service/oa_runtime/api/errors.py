"""Aborting a call with a domain error, for handlers that must answer before they return
(the SSE stream, which sends headers first). Every other DomainError a servicer raises is
mapped by the edge interceptor (auth/interceptor.py): the one place errors become statuses."""

from __future__ import annotations

import grpc.aio

from ..auth.rpc_status import abort_with
from ..core.errors import DomainError


async def abort(context: grpc.aio.ServicerContext, err: DomainError) -> None:
    await abort_with(context, err)

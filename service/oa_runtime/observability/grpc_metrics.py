"""A gRPC server interceptor that measures every RPC (rate, latency, status code)
and the run streams (opened, first frame, end delivered, client disconnects).

It must be the first interceptor, so calls refused by the token check are counted
(UNAUTHENTICATED) like any other. Like the auth interceptor it wraps the handler
`continuation` returns; the label children of a method are bound once, on its
first call, so a call costs a dict lookup and a few adds.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio

from . import metrics as m

SSE_METHOD = "/openagents.runtime.v1.RunService/StreamRunSse"
EVENTS_METHOD = "/openagents.runtime.v1.RunService/StreamRunEvents"
INGEST_METHODS = frozenset(
    {"/openagents.runtime.v1.RunService/StartRun", "/openagents.runtime.v1.RunService/AppendRunEvents"}
)
_SSE_DONE = b"data: [DONE]\n\n"
_OK = "OK"


@dataclass
class _Method:
    """The bound metric children of one RPC method (and, for run streams, its transport)."""

    service: str
    name: str
    kind: str
    transport: str | None
    ingest: bool
    started: Any = field(init=False)
    handling: Any = field(init=False)
    sent: Any = field(init=False)
    handled: dict[str, Any] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        labels = (self.service, self.name, self.kind)
        self.started = m.GRPC_STARTED.labels(*labels)
        self.handling = m.GRPC_HANDLING.labels(*labels)
        self.sent = m.GRPC_MSG_SENT.labels(*labels)

    def finish(self, code: str, began: float) -> None:
        elapsed = time.perf_counter() - began
        self.handling.observe(elapsed)
        child = self.handled.get(code)
        if child is None:
            child = self.handled[code] = m.GRPC_HANDLED.labels(self.service, self.name, self.kind, code)
        child.inc()
        if self.ingest:
            m.PHASE["ingest"].observe(elapsed)


class MetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    def __init__(self) -> None:
        self._methods: dict[str, _Method] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None  # unknown method: grpc answers UNIMPLEMENTED; not a bounded label
        path: str = handler_call_details.method
        method = self._methods.get(path)
        if method is None:
            method = self._methods[path] = _describe(path, handler)
        return _wrap(handler, method)


def _describe(path: str, handler: Any) -> _Method:
    service, _, name = path.lstrip("/").rpartition("/")
    if handler.unary_unary is not None:
        kind = "unary"
    elif handler.unary_stream is not None:
        kind = "server_stream"
    elif handler.stream_unary is not None:
        kind = "client_stream"
    else:
        kind = "bidi_stream"
    transport = {SSE_METHOD: "sse", EVENTS_METHOD: "grpc"}.get(path)
    return _Method(service, name, kind, transport, path in INGEST_METHODS)


def _wrap(handler: Any, method: _Method) -> Any:
    codec = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(_unary(handler.unary_unary, method), **codec)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(_streaming(handler.unary_stream, method), **codec)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(_unary(handler.stream_unary, method), **codec)
    return grpc.stream_stream_rpc_method_handler(_streaming(handler.stream_stream, method), **codec)


def _code_of(context: grpc.aio.ServicerContext, exc: BaseException | None) -> str:
    """The call's status code: what the handler set (abort sets it), else what the exception means."""
    code: Any = context.code()
    if isinstance(code, grpc.StatusCode):
        return str(code.name)
    if isinstance(code, int) and code:
        return str(_INT_CODES[code].name) if code in _INT_CODES else "UNKNOWN"
    if exc is None:
        return _OK
    if isinstance(exc, asyncio.CancelledError):
        return "CANCELLED"
    return "UNKNOWN"


_INT_CODES = {c.value[0]: c for c in grpc.StatusCode}


def _unary(inner: Callable[..., Any], method: _Method) -> Callable[..., Any]:
    async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
        method.started.inc()
        began = time.perf_counter()
        failure: BaseException | None = None
        try:
            result = inner(request, context)
            return await result if inspect.isawaitable(result) else result
        except BaseException as exc:
            failure = exc
            raise
        finally:
            method.finish(_code_of(context, failure), began)

    return call


def _streaming(inner: Callable[..., Any], method: _Method) -> Callable[..., Any]:
    # grpc.aio drives a coroutine function through context.write and iterates
    # anything else: the wrapper must be of the same kind as the handler.
    if inspect.iscoroutinefunction(inner):
        return _unary(inner, method)  # writes with context.write: measured like a unary call

    async def iterate(request: Any, context: grpc.aio.ServicerContext) -> Any:
        method.started.inc()
        began = time.perf_counter()
        run_stream = _RunStream(method.transport, began) if method.transport else None
        failure: BaseException | None = None
        responses = inner(request, context)
        try:
            if hasattr(responses, "__aiter__"):
                async for response in responses:
                    method.sent.inc()
                    if run_stream is not None:
                        run_stream.sent(response)
                    yield response
            else:
                for response in responses:
                    method.sent.inc()
                    yield response
        except BaseException as exc:
            failure = exc
            raise
        finally:
            aclose = getattr(responses, "aclose", None)
            if aclose is not None:
                await aclose()  # a cancelled call: the servicer's cleanup runs now
            code = _code_of(context, failure)
            method.finish(code, began)
            if run_stream is not None:
                run_stream.close(code, failure)

    return iterate


class _RunStream:
    """One run stream's first frame, end and disconnect (SSE bytes or typed events)."""

    __slots__ = ("began", "done", "first_seen", "transport")

    def __init__(self, transport: str, began: float) -> None:
        self.transport = transport
        self.began = began
        self.first_seen = False
        self.done = False
        m.STREAMS_OPENED.labels(transport).inc()
        m.STREAMS_ACTIVE.labels(transport).inc()

    def sent(self, response: Any) -> None:
        if self.transport == "sse":
            data: bytes = response.body.data
            if not self.first_seen and b"data:" in data:
                self._first()
            if data.endswith(_SSE_DONE):
                self.done = True
        else:
            if not self.first_seen:
                self._first()
            if response.event.type == "run.finished":
                self.done = True

    def _first(self) -> None:
        self.first_seen = True
        elapsed = time.perf_counter() - self.began
        m.STREAM_FIRST_FRAME.labels(self.transport).observe(elapsed)
        m.PHASE["stream"].observe(elapsed)

    def close(self, code: str, failure: BaseException | None) -> None:
        m.STREAMS_ACTIVE.labels(self.transport).dec()
        if self.done:
            m.STREAMS_DONE.labels(self.transport).inc()
        elif isinstance(failure, asyncio.CancelledError | GeneratorExit) or code == "CANCELLED":
            m.STREAM_DISCONNECTS.labels(self.transport).inc()

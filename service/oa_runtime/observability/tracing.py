"""OpenTelemetry traces: gRPC server spans, then run → step → model call / tool call → commit.

Off unless an OTLP endpoint is configured (`RUNTIME_OTLP_ENDPOINT` or the standard
`OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`); then spans go out in batches over OTLP/gRPC.
Tests `install` a provider of their own (the SDK's in-memory exporter). While off,
every helper here returns one shared no-op context manager: the hot paths pay a
function call, not a span.

The gRPC server spans come from the official instrumentation, which continues a
`traceparent` sent by Laravel (Envoy passes it through as metadata). A run started
by StartRun executes in a task created inside that call, so its run span is a child
of the StartRun span; a run claimed later (resumed, taken over) starts a new trace.
Remote tools get the current `traceparent` (tools/remote.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from ..core.records import RunRecord

if TYPE_CHECKING:  # the SDK loads only when tracing is configured (cold start)
    from opentelemetry.sdk.trace import TracerProvider

_NOOP: Final = contextlib.nullcontext()
_tracer: trace.Tracer = trace.NoOpTracer()
_provider: TracerProvider | None = None


def enabled() -> bool:
    return _provider is not None


def configure(otlp_endpoint: str, service_name: str) -> TracerProvider | None:
    """Installs an OTLP-exporting provider when an endpoint is configured (else tracing stays off,
    or stays as a test installed it)."""
    if not otlp_endpoint:
        return _provider
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint)))
    install(provider)
    return provider


def install(provider: TracerProvider) -> None:
    global _tracer, _provider
    _provider = provider
    _tracer = provider.get_tracer("oa_runtime")


def uninstall() -> None:
    """Tracing off again (tests; and shutdown, after the provider was flushed)."""
    global _tracer, _provider
    _provider = None
    _tracer = trace.NoOpTracer()


def shutdown() -> None:
    """Flushes and stops a provider `configure` installed."""
    if _provider is not None:
        _provider.shutdown()


def server_interceptors() -> list[Any]:
    """The official gRPC server instrumentation, when tracing is on."""
    if _provider is None:
        return []
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    return [aio_server_interceptor(tracer_provider=_provider)]  # type: ignore[no-untyped-call]


def run_span(record: RunRecord, executor_id: str) -> contextlib.AbstractContextManager[Any]:
    if _provider is None:
        return _NOOP
    request = record.request
    return _tracer.start_as_current_span(
        "run",
        kind=trace.SpanKind.INTERNAL,
        attributes={
            "oa.run_id": request.run_id,
            "oa.thread_id": request.thread_id,
            "oa.user_id": request.user_id,
            "oa.autopilot_id": request.autopilot_id,
            "oa.executor_id": executor_id,
        },
    )


def model_call_span(provider: str, model: str, step: int) -> contextlib.AbstractContextManager[Any]:
    if _provider is None:
        return _NOOP
    attributes: dict[str, str | int] = {
        "gen_ai.system": provider,
        "gen_ai.request.model": model,
        "oa.step": step,
    }
    return _tracer.start_as_current_span("model.call", kind=trace.SpanKind.CLIENT, attributes=attributes)


def tool_call_span(tool: str, tool_call_id: str) -> contextlib.AbstractContextManager[Any]:
    if _provider is None:
        return _NOOP
    attributes = {"oa.tool.name": tool, "oa.tool_call_id": tool_call_id}
    return _tracer.start_as_current_span("tool.call", attributes=attributes)


def commit_span(events: int) -> contextlib.AbstractContextManager[Any]:
    if _provider is None:
        return _NOOP
    return _tracer.start_as_current_span("commit", attributes={"oa.events": events})


class StepTrace:
    """The span of a run's current step. A step's span stays current after its model
    call, so the tool calls of the step (run before the next step) are its children."""

    __slots__ = ("_span", "_token")

    def __init__(self) -> None:
        self._span: trace.Span | None = None
        self._token: object | None = None

    def begin(self, step: int) -> None:
        self.end()
        if _provider is None:
            return
        self._span = _tracer.start_span("step", attributes={"oa.step": step})
        self._token = otel_context.attach(trace.set_span_in_context(self._span))

    def end(self) -> None:
        if self._span is None:
            return
        otel_context.detach(self._token)  # type: ignore[arg-type]
        self._span.end()
        self._span = self._token = None


@contextlib.contextmanager
def step_scope(steps: StepTrace) -> Iterator[None]:
    """Ends the run's last step span when the run's body ends (in its own context)."""
    try:
        yield
    finally:
        steps.end()


def inject_traceparent(headers: MutableMapping[str, str]) -> None:
    """Adds `traceparent` (and `tracestate`) of the current span, if any, to outgoing headers."""
    if _provider is not None:
        propagate.inject(headers)

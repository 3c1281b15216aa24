"""Prometheus metrics of one runtime process, served on the admin listener.

Names follow Prometheus conventions (`_total` counters, `_seconds` durations, base
units) and the gRPC ones follow go-grpc-prometheus, which existing dashboards know.
Labels are bounded sets only: RPC method and code, run outcome and a known reason,
tool name (from the registry), provider class, phase, transport. Never a run, thread
or user id: those belong in traces and logs.

The hot paths (commits, stream messages) use label children bound once here or
cached per method, so an observation is a lock and an add, not a label lookup.
Metrics live in one process-wide registry: a process serving several runtimes
(tests) adds up their numbers, which is what a scrape of the process should show.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

log = logging.getLogger(__name__)

REGISTRY: Final = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 2.5, 5, 10, 30, 60)
SIZE_BUCKETS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

# ----- RPCs (go-grpc-prometheus names) -----
GRPC_STARTED: Final = Counter(
    "grpc_server_started_total",
    "RPCs started on the server.",
    ["grpc_service", "grpc_method", "grpc_type"],
    registry=REGISTRY,
)
GRPC_HANDLED: Final = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    ["grpc_service", "grpc_method", "grpc_type", "grpc_code"],
    registry=REGISTRY,
)
GRPC_HANDLING: Final = Histogram(
    "grpc_server_handling_seconds",
    "Time from an RPC's start to its status (whole stream for streaming RPCs).",
    ["grpc_service", "grpc_method", "grpc_type"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
GRPC_MSG_SENT: Final = Counter(
    "grpc_server_msg_sent_total",
    "Stream messages sent by the server.",
    ["grpc_service", "grpc_method", "grpc_type"],
    registry=REGISTRY,
)

# ----- run lifecycle (counted when the event is durable, so exactly once) -----
RUNS_STARTED: Final = Counter(
    "oa_runtime_runs_started_total", "Runs that began executing (their first run.started).", registry=REGISTRY
)
RUN_EXECUTIONS: Final = Counter(
    "oa_runtime_run_executions_total",
    "Executions of runs: first starts, resumptions after a takeover or restart, wake-ups.",
    registry=REGISTRY,
)
RUNS_FINISHED: Final = Counter(
    "oa_runtime_runs_finished_total",
    "Runs that ended, by outcome (succeeded, failed, canceled) and reason.",
    ["outcome", "reason"],
    registry=REGISTRY,
)
OUTCOMES: Final = ("succeeded", "failed", "canceled")
# Reasons the engine writes; anything else (a future reason) is counted as "other".
FINISH_REASONS: Final = frozenset(
    {
        "stop",
        "length",
        "tool_calls",
        "canceled",
        "model_error",
        "step_limit",
        "internal_error",
        "executor_recovery_exhausted",
        "other",
    }
)

# ----- projections -----
PROJECTION_LAG: Final = Gauge(
    "oa_runtime_projection_lag_events",
    "Events an async projection is behind the log head (as last measured by this replica's projector).",
    ["projection"],
    registry=REGISTRY,
)
READ_MODEL_DRIFT: Final = Gauge(
    "oa_runtime_read_model_drift",
    "Drifts the latest sampled check found between the Laravel read models and a fresh fold of the log,"
    " by reason (app/reproject.py; a lagging projector is the lag gauge, not drift).",
    ["reason"],
    registry=REGISTRY,
)

SYNC_SINK_LAG: Final = Gauge(
    "oa_runtime_sync_sink_lag_seconds",
    "Age of the oldest document change the sync sink has not acknowledged, by document kind"
    " (0: caught up; measured by the replica holding the sink's lease).",
    ["kind"],
    registry=REGISTRY,
)
SYNC_SINK_DOCUMENTS: Final = Counter(
    "oa_runtime_sync_sink_documents_total",
    "Sync documents the sink acknowledged (pushed) or that were not sent because the sink already"
    " had their seq, version and hash (skipped).",
    ["outcome"],
    registry=REGISTRY,
)
SYNC_SINK_FAILURES: Final = Counter(
    "oa_runtime_sync_sink_failures_total",
    "Sync sink pushes that failed and will be retried with backoff, by cause (status class or error).",
    ["cause"],
    registry=REGISTRY,
)

# ----- streams -----
STREAMS_OPENED: Final = Counter(
    "oa_runtime_streams_opened_total", "Run event streams opened.", ["transport"], registry=REGISTRY
)
STREAMS_ACTIVE: Final = Gauge(
    "oa_runtime_streams_active", "Run event streams open now.", ["transport"], registry=REGISTRY
)
STREAM_FIRST_FRAME: Final = Histogram(
    "oa_runtime_stream_first_frame_seconds",
    "From a stream's opening to its first run frame (SSE) or event (gRPC).",
    ["transport"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
STREAMS_DONE: Final = Counter(
    "oa_runtime_streams_done_total",
    "Streams that delivered their end (SSE `data: [DONE]`; gRPC the terminal event).",
    ["transport"],
    registry=REGISTRY,
)
STREAM_DISCONNECTS: Final = Counter(
    "oa_runtime_stream_client_disconnects_total",
    "Streams the client closed before their end.",
    ["transport"],
    registry=REGISTRY,
)

# ----- group commit -----
COMMIT_BATCH_EVENTS: Final = Histogram(
    "oa_runtime_commit_batch_events",
    "Events written per group-commit transaction.",
    buckets=SIZE_BUCKETS,
    registry=REGISTRY,
)
COMMIT_DURATION: Final = Histogram(
    "oa_runtime_commit_duration_seconds",
    "Duration of one group commit (store.append_many).",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
COMMIT_FAILURES: Final = Counter(
    "oa_runtime_commit_failures_total",
    "Group commits that failed whole (unavailable: the database is away; error: a bug).",
    ["reason"],
    registry=REGISTRY,
)
APPENDS_REJECTED: Final = Counter(
    "oa_runtime_appends_rejected_total",
    "Appends the store refused, by ErrorInfo reason (SEQ_CONFLICT, RUN_FINISHED...).",
    ["reason"],
    registry=REGISTRY,
)

# ----- leases -----
LEASE_CLAIMS: Final = Counter(
    "oa_runtime_lease_claims_total",
    "Run leases this replica claimed: new (free or released) or takeover (from an owner that died).",
    ["kind"],
    registry=REGISTRY,
)
LEASES_LOST: Final = Counter(
    "oa_runtime_leases_lost_total", "Leases this replica found it no longer holds.", registry=REGISTRY
)
FENCED_WRITES: Final = Counter(
    "oa_runtime_lease_fenced_writes_total",
    "Appends refused because another replica had taken the run over (fencing token).",
    registry=REGISTRY,
)

# ----- tools -----
TOOL_TASKS_IN_FLIGHT: Final = Gauge(
    "oa_runtime_tool_tasks_in_flight",
    "Tool tasks handed to this replica's runners and not finished (queue depth).",
    registry=REGISTRY,
)
TOOL_CALLS: Final = Counter(
    "oa_runtime_tool_calls_total",
    "Tool tasks that ended, by tool and outcome (succeeded, failed, timed_out, canceled).",
    ["tool", "outcome"],
    registry=REGISTRY,
)
TOOL_DURATION: Final = Histogram(
    "oa_runtime_tool_call_duration_seconds",
    "Duration of one tool attempt.",
    ["tool"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
TOOL_RETRIES: Final = Counter(
    "oa_runtime_tool_retries_total", "Retried tool attempts.", ["tool"], registry=REGISTRY
)
TOOL_REJECTIONS: Final = Counter(
    "oa_runtime_tool_calls_rejected_total",
    "Tool calls refused before running (policy_denied, unknown_tool, invalid_input).",
    ["reason"],
    registry=REGISTRY,
)

# ----- model calls -----
MODEL_CALL_DURATION: Final = Histogram(
    "oa_runtime_model_call_duration_seconds",
    "One model step's streaming call, by provider.",
    ["provider"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
MODEL_FIRST_TOKEN: Final = Histogram(
    "oa_runtime_model_first_token_seconds",
    "From a model call's start to its first text token.",
    ["provider"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
MODEL_ERRORS: Final = Counter(
    "oa_runtime_model_errors_total", "Model calls that failed.", ["provider"], registry=REGISTRY
)

# ----- phases: where a run's time goes -----
PHASES: Final = ("ingest", "infer", "tool", "persist", "stream")
PHASE_DURATION: Final = Histogram(
    "oa_runtime_phase_duration_seconds",
    "Time spent per phase: ingest (StartRun/AppendRunEvents), infer (model call), "
    "tool (tool attempt), persist (group commit), stream (to a stream's first frame).",
    ["phase"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)

# Children bound once for the hot paths.
PHASE: Final = {p: PHASE_DURATION.labels(p) for p in PHASES}
_RUNS_FINISHED = {(o, r): RUNS_FINISHED.labels(o, r) for o in OUTCOMES for r in FINISH_REASONS}
_FENCED_REASON: Final = "FENCED_OFF"
for _kind in ("new", "takeover"):
    LEASE_CLAIMS.labels(_kind)
for _transport in ("sse", "grpc"):
    for _family in (STREAMS_OPENED, STREAMS_DONE, STREAM_DISCONNECTS):
        _family.labels(_transport)
for _reason in ("unavailable", "error"):
    COMMIT_FAILURES.labels(_reason)

_RUN_STARTED = "run.started"
_RUN_FINISHED = "run.finished"


def observe_commit(events: int, seconds: float) -> None:
    COMMIT_BATCH_EVENTS.observe(events)
    COMMIT_DURATION.observe(seconds)
    PHASE["persist"].observe(seconds)


def count_committed(events: Iterable[Any]) -> None:
    """Counts run lifecycle events of a committed batch (one set lookup per event)."""
    for event in events:
        kind = event.type
        if kind == _RUN_STARTED:
            RUN_EXECUTIONS.inc()
            if event.payload.get("attempt") == 1:
                RUNS_STARTED.inc()
        elif kind == _RUN_FINISHED:
            count_finished(event.payload)


def count_finished(payload: Mapping[str, Any]) -> None:
    outcome = str(payload.get("outcome", ""))
    reason = str(payload.get("reason", ""))
    child = _RUNS_FINISHED.get((outcome, reason if reason in FINISH_REASONS else "other"))
    if child is not None:
        child.inc()


def count_rejected_append(reason: str, fenced: bool) -> None:
    if fenced:
        FENCED_WRITES.inc()
        reason = _FENCED_REASON
    APPENDS_REJECTED.labels(reason).inc()


_listening_on: list[int] = []  # ports of the listeners open in this process


def metrics_port() -> int | None:
    """The port of this process's metrics listener (the OS picks it for RUNTIME_METRICS_PORT=0)."""
    return _listening_on[-1] if _listening_on else None


class MetricsListener:
    """The admin HTTP listener (`GET /metrics`), a prometheus-client WSGI server thread
    started and stopped by the server lifecycle."""

    def __init__(self, host: str, port: int) -> None:
        self._server: WSGIServer
        self._thread: threading.Thread
        self._server, self._thread = start_http_server(port, addr=host, registry=REGISTRY)
        self.port: int = self._server.server_port
        _listening_on.append(self.port)
        log.info("metrics listening", extra={"metrics": f"{host}:{self.port}"})

    def close(self) -> None:
        _listening_on.remove(self.port)
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def observe_first_token(provider: str, seconds: float) -> None:
    MODEL_FIRST_TOKEN.labels(provider).observe(seconds)


def observe_model_call(provider: str, seconds: float) -> None:
    MODEL_CALL_DURATION.labels(provider).observe(seconds)
    PHASE["infer"].observe(seconds)


def observe_tool_attempt(tool: str, seconds: float) -> None:
    TOOL_DURATION.labels(tool).observe(seconds)
    PHASE["tool"].observe(seconds)


def count_tool_result(payload: Mapping[str, Any]) -> None:
    TOOL_CALLS.labels(str(payload.get("tool_name", "")), str(payload.get("state", ""))).inc()

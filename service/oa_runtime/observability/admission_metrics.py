"""Admission control metrics (engine/admission.py), in the process registry. Labels are
bounded: kind ("run" | "stream"), outcome, and the thread input policy."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge

from .metrics import REGISTRY

ADMISSIONS: Final = Counter(
    "oa_admission_decisions_total",
    "StartRun and stream admissions by outcome: admitted (runs at once / stream opened),"
    " queued (the run waits for an executor slot), refused (RESOURCE_EXHAUSTED).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
QUEUE_DEPTH: Final = Gauge(
    "oa_admission_queue_depth",
    "Runs waiting for an executor slot across replicas, as this replica's claimer last saw them"
    " (read when it was at capacity; 0 once a claim round found room for everything).",
    registry=REGISTRY,
)
RUNS_EXECUTING: Final = Gauge(
    "oa_admission_runs_executing",
    "Runs this replica executes now (their tasks), against RUNTIME_MAX_RUNNING_RUNS.",
    registry=REGISTRY,
)
AGENTS_AWAKE: Final = Gauge(
    "oa_agents_awake",
    "Agent tasks this replica executes now, against RUNTIME_MAX_AWAKE_AGENTS (past it, due"
    " agents wait in the database for a free slot on any replica).",
    registry=REGISTRY,
)
STREAMS_OPEN: Final = Gauge(
    "oa_admission_streams_open",
    "Run event streams (gRPC and SSE) open on this replica, against RUNTIME_MAX_OPEN_STREAMS.",
    registry=REGISTRY,
)
THREAD_INPUT: Final = Counter(
    "oa_thread_input_total",
    "StartRuns that found an unfinished run on their thread, by policy and outcome"
    " (queued behind it, canceled it, refused).",
    ["policy", "outcome"],
    registry=REGISTRY,
)

RUN_ADMITTED: Final = ADMISSIONS.labels("run", "admitted")
RUN_QUEUED: Final = ADMISSIONS.labels("run", "queued")
RUN_REFUSED: Final = ADMISSIONS.labels("run", "refused")
STREAM_ADMITTED: Final = ADMISSIONS.labels("stream", "admitted")
STREAM_REFUSED: Final = ADMISSIONS.labels("stream", "refused")

"""Configuration from environment variables. Every setting has a documented default
(README "Configuration"); nothing else reads os.environ."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_DB_URL = "sqlite:///var/runtime.db"


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    return raw not in ("0", "false", "no", "off")


def _not_negative(value: int, name: str) -> int:
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")
    return value


def _budgets(env: Mapping[str, str], name: str) -> tuple[tuple[str, int], ...]:
    """`model=tokens,model=tokens` (whitespace ignored): a token budget per model name."""
    out: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in env.get(name, "").split(","))):
        model, sep, value = item.rpartition("=")
        try:
            budget = int(value)
        except ValueError:
            budget = 0
        if not sep or not model.strip() or budget < 1:
            raise ValueError(f"{name} must be model=tokens pairs (tokens >= 1), got {item!r}")
        out[model.strip()] = budget
    return tuple(sorted(out.items()))


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    raw = env.get(name, "").strip().lower() or default
    if raw not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Settings:
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    http_port: int = 8080
    database_url: str = DEFAULT_DB_URL
    executor_id: str = field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")
    max_steps: int = 16
    flush_window_ms: float = 20.0  # token deltas are coalesced into one event per window
    flush_window_max_ms: float = 100.0  # ... a window that widens under load (engine/model_step.py)
    commit_batch_max: int = 512  # events of many runs committed in one transaction
    commit_wait_ms: float = 2.0  # how long the writer waits to fill a batch
    subscriber_buffer: int = 1024  # events buffered per live subscriber before it re-reads the store
    sse_heartbeat_s: float = 15.0  # comment heartbeats on idle SSE streams (Envoy idle timeout is 300 s)
    shutdown_grace_s: float = 10.0
    # Leases (multi-replica): see core/leases.py and engine/coordinator.py.
    lease_ttl_s: float = 10.0  # renewed every third; a dead owner's runs move on after this at most
    claim_interval_s: float = 1.0  # how often a replica looks for runs nobody executes
    recovery_budget: int = 3  # takeovers without progress before a run ends failed
    stream_poll_s: float = 1.0  # fallback poll for streams of runs executed elsewhere
    # How often a replica re-reads the seqs of the agents it holds, in case a NOTIFY of another
    # replica's frame was lost (PostgreSQL; engine/agent_wake.py wakes them at once otherwise).
    agent_poll_s: float = 1.0
    # An agent task's unexpected exceptions in a row before the agent is marked FAILED
    # (each one gives the lease up at once and retries after a doubling backoff).
    agent_max_task_failures: int = 5
    # A turn waiting for a human holds nothing; its agent is looked at again after this at the
    # latest (the run's move wakes it at once; this covers a crash before it was told).
    agent_waiting_recheck_s: float = 60.0
    # Agent tasks one replica executes at once (RUNTIME_MAX_AWAKE_AGENTS; 0 = no limit). Unset:
    # `awake_agents_limit` (max_running_runs: each task runs its turns as runs).
    max_awake_agents: int | None = None
    log_level: str = "INFO"
    log_format: str = "json"  # "json" | "text"
    # ----- tools -----
    tools_config: str = ""  # RUNTIME_TOOLS_CONFIG: a JSON file path or inline JSON (tools/loader.py)
    tool_timeout_s: float = 30.0  # per attempt, for tools that declare none
    tool_max_attempts: int = 3  # retries of idempotent tools on retryable failures
    approval_timeout_s: float = 0.0  # an undecided approval or unanswered question; 0 = never
    tool_entry_points: bool = True  # load the `openagents_runtime.tools` entry point group
    # ----- observability (observability/) -----
    metrics_host: str = "127.0.0.1"  # the Prometheus admin listener; loopback unless told otherwise
    metrics_port: int | None = None  # RUNTIME_METRICS_PORT; unset: no listener (0: the OS picks)
    otlp_endpoint: str = ""  # traces go here (OTLP/gRPC); empty: tracing off
    service_name: str = "openagents-runtime"
    # ----- Codex workers -----
    worker_heartbeat_stale_after_ms: int = 120_000  # a worker silent this long is "stale"
    # ----- projections -----
    # Keep Laravel's read-model tables (and their sampled drift check). They double the rows
    # written per event in the background: a deployment whose Laravel does not read them
    # turns them off (measured in README "Read models for Laravel").
    read_models: bool = True
    # ----- admission control (engine/admission.py, README "Admission and overload") -----
    max_running_runs: int = 64  # runs one replica executes at once; 0 = no limit
    max_open_streams: int = 512  # run event streams (gRPC + SSE) one replica serves; 0 = no limit
    overload_policy: str = "queue"  # past max_running_runs: "queue" (wait QUEUED) or "reject" (429)
    retry_after_s: int = 1  # the retry-after a refusal (429) asks for
    # ----- sync documents (core/sync.py) -----
    sync_documents: bool = True  # RUNTIME_SYNC_DOCUMENTS: project them (Subscribe, the sink)
    sync_sink_url: str = ""  # RUNTIME_SYNC_SINK_URL: push them to this HTTP sink; empty: off
    sync_sink_auth_header: str = "Authorization"  # RUNTIME_SYNC_SINK_AUTH_HEADER
    sync_sink_auth: str = field(default="", repr=False)  # RUNTIME_SYNC_SINK_AUTH: a secret, never logged
    sync_sink_lease_ttl_s: float = 10.0  # RUNTIME_SYNC_SINK_LEASE_TTL_S: one pushing replica at a time
    # ----- artifacts and retention (core/artifacts.py, core/retention_runs.py) -----
    # A tool output over this many bytes (its JSON, UTF-8) is stored as an artifact: the event
    # and the model get a reference and a preview instead (README "Artifacts and retention").
    artifact_inline_max_bytes: int = 64 * 1024
    retention_class: str = "durable"  # hot | durable | compact_only | archive (core/memory/retention.py)
    retention_raw_age_s: float | None = None  # overrides the class's raw age (RUNTIME_RETENTION_RAW_AGE_S)
    retention_interval_s: float = 0.0  # run the retention pass this often; 0: only `oa-runtime retention`
    retention_batch: int = 100  # streams trimmed per pass and transaction
    # Unreferenced artifact bytes are collected once last stored this long ago: a writer that
    # stores bytes has this long to commit the event or row that references them.
    artifact_gc_grace_s: float = 3600.0  # RUNTIME_ARTIFACT_GC_GRACE_S
    # ----- memory (docs/MEMORY.md) -----
    memory_model: str = ""  # RUNTIME_MEMORY_MODEL: writes summaries; "" = the default model
    memory_tick_s: float = 60.0  # how often memory-enabled threads are compacted
    memory_job_ttl_s: float = 30.0  # a compaction job of a dead replica is taken over after this
    memory_encoding: str = ""  # a tiktoken encoding (cl100k_base, o200k_base); "" = byte estimate
    memory_tiktoken_dir: str = ""  # where `<encoding>.tiktoken` is read from (never downloaded)
    memory_context_budget: int = 16_000  # tokens of a memory-enabled thread's turn context
    # RUNTIME_MEMORY_CONTEXT_BUDGETS "model=tokens,...": a model's own budget (an escalated turn
    # on a bigger model gets a bigger context); other models get memory_context_budget.
    memory_context_budgets: tuple[tuple[str, int], ...] = ()

    @property
    def awake_agents_limit(self) -> int:
        """RUNTIME_MAX_AWAKE_AGENTS, or by default max_running_runs (each awake agent runs its
        turns as runs; 64 when runs are unbounded). Measured in bench/README.md "Agents": 16 a
        replica fired 200 due agents slower than 64 and drained their turns no faster."""
        if self.max_awake_agents is not None:
            return self.max_awake_agents
        return self.max_running_runs if self.max_running_runs > 0 else 64

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env
        defaults = cls()
        return cls(
            grpc_host=e.get("RUNTIME_GRPC_HOST", defaults.grpc_host),
            grpc_port=_int(e, "RUNTIME_GRPC_PORT", defaults.grpc_port),
            http_port=_int(e, "RUNTIME_HTTP_PORT", defaults.http_port),
            database_url=e.get("RUNTIME_DATABASE_URL") or defaults.database_url,
            executor_id=e.get("RUNTIME_EXECUTOR_ID") or defaults.executor_id,
            max_steps=_int(e, "RUNTIME_MAX_STEPS", defaults.max_steps),
            flush_window_ms=_float(e, "RUNTIME_FLUSH_WINDOW_MS", defaults.flush_window_ms),
            flush_window_max_ms=_float(e, "RUNTIME_FLUSH_WINDOW_MAX_MS", defaults.flush_window_max_ms),
            commit_batch_max=_int(e, "RUNTIME_COMMIT_BATCH_MAX", defaults.commit_batch_max),
            commit_wait_ms=_float(e, "RUNTIME_COMMIT_WAIT_MS", defaults.commit_wait_ms),
            subscriber_buffer=_int(e, "RUNTIME_SUBSCRIBER_BUFFER", defaults.subscriber_buffer),
            sse_heartbeat_s=_float(e, "RUNTIME_SSE_HEARTBEAT_S", defaults.sse_heartbeat_s),
            shutdown_grace_s=_float(e, "RUNTIME_SHUTDOWN_GRACE_S", defaults.shutdown_grace_s),
            lease_ttl_s=_float(e, "RUNTIME_LEASE_TTL_S", defaults.lease_ttl_s),
            claim_interval_s=_float(e, "RUNTIME_CLAIM_INTERVAL_S", defaults.claim_interval_s),
            recovery_budget=_int(e, "RUNTIME_RECOVERY_BUDGET", defaults.recovery_budget),
            stream_poll_s=_float(e, "RUNTIME_STREAM_POLL_S", defaults.stream_poll_s),
            agent_poll_s=_float(e, "RUNTIME_AGENT_POLL_S", defaults.agent_poll_s),
            agent_max_task_failures=_int(
                e, "RUNTIME_AGENT_MAX_TASK_FAILURES", defaults.agent_max_task_failures
            ),
            agent_waiting_recheck_s=_float(
                e, "RUNTIME_AGENT_WAITING_RECHECK_S", defaults.agent_waiting_recheck_s
            ),
            log_level=e.get("RUNTIME_LOG_LEVEL", defaults.log_level).upper(),
            log_format=e.get("RUNTIME_LOG_FORMAT", defaults.log_format),
            # ----- tools -----
            tools_config=e.get("RUNTIME_TOOLS_CONFIG", defaults.tools_config),
            tool_timeout_s=_float(e, "RUNTIME_TOOL_TIMEOUT_S", defaults.tool_timeout_s),
            tool_max_attempts=_int(e, "RUNTIME_TOOL_MAX_ATTEMPTS", defaults.tool_max_attempts),
            approval_timeout_s=_float(e, "RUNTIME_APPROVAL_TIMEOUT_S", defaults.approval_timeout_s),
            tool_entry_points=_flag(e, "RUNTIME_TOOL_ENTRY_POINTS", defaults.tool_entry_points),
            # ----- observability -----
            metrics_host=e.get("RUNTIME_METRICS_HOST") or defaults.metrics_host,
            metrics_port=_int(e, "RUNTIME_METRICS_PORT", -1) if e.get("RUNTIME_METRICS_PORT") else None,
            otlp_endpoint=e.get("RUNTIME_OTLP_ENDPOINT")
            or e.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            or e.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or "",
            service_name=e.get("OTEL_SERVICE_NAME") or defaults.service_name,
            worker_heartbeat_stale_after_ms=_int(
                e, "RUNTIME_WORKER_HEARTBEAT_STALE_AFTER_MS", defaults.worker_heartbeat_stale_after_ms
            ),
            read_models=_flag(e, "RUNTIME_READ_MODELS", defaults.read_models),
            max_running_runs=_int(e, "RUNTIME_MAX_RUNNING_RUNS", defaults.max_running_runs),
            max_awake_agents=(
                _not_negative(_int(e, "RUNTIME_MAX_AWAKE_AGENTS", 0), "RUNTIME_MAX_AWAKE_AGENTS")
                if e.get("RUNTIME_MAX_AWAKE_AGENTS")
                else None
            ),
            max_open_streams=_int(e, "RUNTIME_MAX_OPEN_STREAMS", defaults.max_open_streams),
            overload_policy=_choice(
                e, "RUNTIME_OVERLOAD_POLICY", defaults.overload_policy, ("queue", "reject")
            ),
            retry_after_s=_not_negative(
                _int(e, "RUNTIME_RETRY_AFTER_S", defaults.retry_after_s), "RUNTIME_RETRY_AFTER_S"
            ),
            sync_documents=_flag(e, "RUNTIME_SYNC_DOCUMENTS", defaults.sync_documents),
            sync_sink_url=e.get("RUNTIME_SYNC_SINK_URL", defaults.sync_sink_url).strip(),
            sync_sink_auth_header=e.get("RUNTIME_SYNC_SINK_AUTH_HEADER") or defaults.sync_sink_auth_header,
            sync_sink_auth=e.get("RUNTIME_SYNC_SINK_AUTH", defaults.sync_sink_auth),
            sync_sink_lease_ttl_s=_float(e, "RUNTIME_SYNC_SINK_LEASE_TTL_S", defaults.sync_sink_lease_ttl_s),
            artifact_inline_max_bytes=_int(
                e, "RUNTIME_ARTIFACT_INLINE_MAX_BYTES", defaults.artifact_inline_max_bytes
            ),
            retention_class=e.get("RUNTIME_RETENTION_CLASS") or defaults.retention_class,
            retention_raw_age_s=(
                _float(e, "RUNTIME_RETENTION_RAW_AGE_S", 0.0)
                if e.get("RUNTIME_RETENTION_RAW_AGE_S")
                else None
            ),
            retention_interval_s=_float(e, "RUNTIME_RETENTION_INTERVAL_S", defaults.retention_interval_s),
            retention_batch=_int(e, "RUNTIME_RETENTION_BATCH", defaults.retention_batch),
            artifact_gc_grace_s=_float(e, "RUNTIME_ARTIFACT_GC_GRACE_S", defaults.artifact_gc_grace_s),
            memory_model=e.get("RUNTIME_MEMORY_MODEL", defaults.memory_model),
            memory_tick_s=_float(e, "RUNTIME_MEMORY_TICK_S", defaults.memory_tick_s),
            memory_job_ttl_s=_float(e, "RUNTIME_MEMORY_JOB_TTL_S", defaults.memory_job_ttl_s),
            memory_encoding=e.get("RUNTIME_MEMORY_ENCODING", defaults.memory_encoding),
            memory_tiktoken_dir=e.get("RUNTIME_MEMORY_TIKTOKEN_DIR", defaults.memory_tiktoken_dir),
            memory_context_budget=_int(e, "RUNTIME_MEMORY_CONTEXT_BUDGET", defaults.memory_context_budget),
            memory_context_budgets=_budgets(e, "RUNTIME_MEMORY_CONTEXT_BUDGETS"),
        )

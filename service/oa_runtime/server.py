"""The server's lifecycle: everything long-lived is created, owned and stopped here.

All background tasks (the commit loop, run executors, the lease claimer and
keeper, the change listener, the readiness monitor) belong to one TaskGroup.
On SIGTERM/SIGINT: report NOT_SERVING, stop claiming, stop run tasks, checkpoint
them and release their leases (another replica continues at once; on one node
they resume on the next start), end open streams cleanly (clients resume
elsewhere), stop the gRPC server, then drain the writer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import grpc.aio
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from openagents.runtime.v1 import (
    agent_service_pb2_grpc,
    artifact_service_pb2_grpc,
    codex_worker_service_pb2_grpc,
    health_service_pb2_grpc,
    memory_service_pb2_grpc,
    run_service_pb2,
    run_service_pb2_grpc,
    sync_service_pb2_grpc,
)

from .api.agents import AgentService
from .api.artifacts import ArtifactService
from .api.health import HealthService, Readiness
from .api.memory import MemoryService
from .api.run_service import RunService, Runtime
from .api.sync import SyncService
from .api.workers import CodexWorkerService
from .app.agent_tree import AgentTools, AgentTurns
from .app.agents import Agents, turn_memory_policy, turn_run_moved
from .app.memory import CompactionSettings, Compactor, MemoryScheduler
from .app.memory_api import MemoryApp, memory_query_tool
from .app.reproject import DriftSampler
from .app.retention import policy_of, retention_loop
from .app.workers import Workers
from .auth.interceptor import ServiceTokenInterceptor
from .auth.resources import AuthReads
from .auth.token import Keyring, TokenPolicy
from .config import Settings
from .core.admission import OverloadPolicy
from .core.artifacts import ARTIFACT_INDEX
from .core.memory.tokens import TokenCounter, counter_for
from .core.projections import THREAD_MESSAGES, Projection
from .core.read_models import LARAVEL_READ_MODELS
from .engine.admission import Admission, AdmissionSettings
from .engine.agent_wake import AgentWake
from .engine.agents import AgentExecutor, AgentExecutorSettings, Clock
from .engine.broker import Broker
from .engine.coordinator import CoordinationSettings, Coordinator
from .engine.executor import LeasePolicy, RunExecutor, run_workloads
from .engine.memory_context import MemoryContexts
from .engine.projector import Projector
from .engine.run_loop import RunDeps
from .engine.sync_projector import SyncFeed, SyncProjector
from .engine.sync_sink import HttpDocumentSink, SinkConfig, SinkPusher
from .engine.writer import EventWriter
from .models.registry import ModelRegistry
from .observability import tracing
from .observability.grpc_metrics import MetricsInterceptor
from .observability.metrics import MetricsListener
from .ports import ArtifactStore, ChangeHandler, EventStore, RetentionStore
from .store import open_store
from .store.agents import open_agent_store
from .store.artifacts import open_artifact_store
from .store.memory import open_memory_store
from .store.retention import open_retention_store
from .store.sync import open_sync_store
from .store.workers import open_worker_store
from .tools.builtin import BUILTIN_TOOLS, agent_tools
from .tools.memory import memory_expand_tool
from .tools.registry import Tool

log = logging.getLogger(__name__)


async def serve(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
    clock: Clock | None = None,
) -> None:
    """Runs until `stop` is set (or SIGTERM/SIGINT when `stop` is None). `clock` is the time
    agents decide by (schedules, timers, deadlines) and memory compacts by (which windows are
    closed); tests inject one."""
    env = os.environ if environ is None else environ
    keyring = Keyring.from_env(env)
    models = ModelRegistry.from_env(env)
    phases = _StartupPhases()
    tracing.configure(settings.otlp_endpoint, settings.service_name)  # off unless an endpoint is set
    metrics_listener = (
        MetricsListener(settings.metrics_host, settings.metrics_port)
        if settings.metrics_port is not None
        else None
    )
    store = open_store(settings.database_url)
    await store.open()
    phases.mark("store_open")
    stop = stop or _signal_event()
    try:
        async with asyncio.TaskGroup() as tg:
            parts = _build_components(settings, keyring, models, store, tg, clock or _utc_now)
            wake = AgentWake(parts.coordinator, parts.agent_executor, parts.agents.hub.publish)
            background = [await _listening(tg, store, settings.executor_id, wake)]
            phases.mark("listen")
            grpc_health = health.aio.HealthServicer()
            readiness = Readiness(store, grpc_health, on_recovered=parts.coordinator.wake)
            server = _grpc_server(settings, env, keyring, parts, readiness, grpc_health)
            port = server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")
            await server.start()
            await readiness.refresh()
            background.append(tg.create_task(readiness.monitor(), name="readiness"))
            phases.mark("grpc_start")
            resumed = await parts.coordinator.claim_once()
            await parts.agent_executor.claim_once()
            phases.mark("claim")
            background += _start_background_loops(tg, parts, settings)
            log.info(
                "serving",
                extra={
                    "grpc": f"{settings.grpc_host}:{port}",
                    "backend": store.backend,
                    "resumed_runs": resumed,
                    **phases.ms,
                },
            )
            if on_ready is not None:
                on_ready(port)
            await stop.wait()
            await _shut_down(settings, parts, readiness, server, background)
    finally:
        await _close_outer_parts(settings, models, store, metrics_listener)
    log.info("stopped")


async def _close_outer_parts(
    settings: Settings, models: ModelRegistry, store: EventStore, metrics_listener: MetricsListener | None
) -> None:
    """Closes what outlives the TaskGroup: the model clients, the store, the metrics
    endpoint and the trace exporter (its last spans are flushed)."""
    await models.aclose()
    await store.close()
    if metrics_listener is not None:
        metrics_listener.close()
    if settings.otlp_endpoint:
        tracing.shutdown()


class _StartupPhases:
    """Start-up time per phase (milliseconds since the previous mark), logged with "serving"."""

    def __init__(self) -> None:
        self.began = time.monotonic()
        self.ms: dict[str, float] = {}

    def mark(self, name: str) -> None:
        self.ms[name + "_ms"] = round((time.monotonic() - self.began) * 1000 - sum(self.ms.values()), 1)


@dataclass(frozen=True)
class _Components:
    """The long-lived parts the server wires together; their tasks run in the server's TaskGroup."""

    broker: Broker
    writer: EventWriter
    executor: RunExecutor
    coordinator: Coordinator
    projector: Projector
    runtime: Runtime
    workers: Workers
    sync: SyncProjector
    sink: SinkPusher | None
    artifacts: ArtifactStore
    retention: RetentionStore
    agents: Agents
    agent_executor: AgentExecutor

    memory: MemoryApp
    memory_scheduler: MemoryScheduler


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _build_components(
    settings: Settings,
    keyring: Keyring,
    models: ModelRegistry,
    store: EventStore,
    tg: asyncio.TaskGroup,
    clock: Clock,
) -> _Components:
    """Builds the broker, the writer (its commit loop starts at once), the executor, the
    coordinator and the projector, and the Runtime the API serves from."""
    broker = Broker(settings.subscriber_buffer)
    writer = EventWriter(store, broker, batch_max=settings.commit_batch_max, wait_ms=settings.commit_wait_ms)
    tg.create_task(writer.run(), name="writer")
    artifacts = open_artifact_store(store)
    agents = Agents(
        open_agent_store(store),
        clock,
        poll_s=None if store.single_node else settings.stream_poll_s,
        sse_heartbeat_s=settings.sse_heartbeat_s,
        memory=open_memory_store(store),
    )
    # The lease owner is this process: the executor id names the replica (its liveness
    # lock), the suffix tells it from earlier incarnations. Memory jobs are held by it too.
    owner = f"{settings.executor_id}@{uuid.uuid4().hex[:8]}"
    memory, scheduler, memory_contexts, memory_tools = _memory_parts(
        settings, models, store, owner, tg, agents, broker
    )
    # Built-ins (with the agents' timer and delegate tools) + entry points + config, and the
    # model's ways into its thread's memory.
    tools = (
        BUILTIN_TOOLS.with_tools([*agent_tools(AgentTools(agents))])
        .configured(settings, keyring)
        .with_tools(memory_tools)
    )
    executor = RunExecutor(
        store,
        tg,
        LeasePolicy(owner, settings.lease_ttl_s, settings.recovery_budget),
        run_workloads(RunDeps(store, writer, settings, tools, artifacts, memory_contexts), models),
    )
    admission = Admission(
        AdmissionSettings(
            settings.max_running_runs,
            settings.max_open_streams,
            OverloadPolicy(settings.overload_policy),
            settings.retry_after_s,
        ),
        executor.executing,
    )
    coordinator = Coordinator(
        store,
        broker,
        executor,
        CoordinationSettings(
            claim_interval_s=settings.claim_interval_s,
            stream_poll_s=settings.stream_poll_s,
            poll_streams=not store.single_node,
        ),
        admission,
    )
    projector = Projector(store, async_projections(settings))
    runtime = Runtime(store, broker, writer, executor, models, settings.sse_heartbeat_s, admission)
    workers = Workers(
        open_worker_store(store),
        stale_after_ms=settings.worker_heartbeat_stale_after_ms,
        poll_s=None if store.single_node else settings.stream_poll_s,
        sse_heartbeat_s=settings.sse_heartbeat_s,
    )
    sync = SyncProjector(open_sync_store(store), store, SyncFeed())
    broker.watch(projector.wake)
    if settings.sync_documents:
        broker.watch(sync.wake)
    policy_of(settings)  # a bad RUNTIME_RETENTION_CLASS fails the start, not a later pass
    retention = open_retention_store(store)
    return _Components(
        broker,
        writer,
        executor,
        coordinator,
        projector,
        runtime,
        workers,
        sync,
        _sink_pusher(settings, sync),
        artifacts,
        retention,
        agents,
        _agent_executor(settings, store, runtime, agents, tg, clock),
        memory,
        scheduler,
    )


def _sink_pusher(settings: Settings, sync: SyncProjector) -> SinkPusher | None:
    """The sync sink's pusher when RUNTIME_SYNC_SINK_URL is set (and the documents are kept)."""
    if not settings.sync_sink_url or not settings.sync_documents:
        return None
    config = SinkConfig(
        settings.sync_sink_url,
        auth_header=settings.sync_sink_auth_header,
        auth_value=settings.sync_sink_auth,
        lease_ttl_s=settings.sync_sink_lease_ttl_s,
    )
    owner = f"{settings.executor_id}@{uuid.uuid4().hex[:8]}"
    return SinkPusher(sync.store, HttpDocumentSink(config), sync.feed, config, owner)


def _agent_executor(
    settings: Settings,
    store: EventStore,
    runtime: Runtime,
    agents: Agents,
    tg: asyncio.TaskGroup,
    clock: Clock,
) -> AgentExecutor:
    """The agent executor (its loops start with the others), set on the agent use cases."""
    agents.executor = AgentExecutor(
        agents.store,
        store,
        runtime.broker,
        AgentTurns(runtime, agents),
        tg,
        AgentExecutorSettings(
            owner=runtime.executor.policy.owner,
            ttl_s=settings.lease_ttl_s,
            claim_interval_s=settings.claim_interval_s,
            poll_s=None if store.single_node else settings.agent_poll_s,
            max_awake=settings.awake_agents_limit,
            max_task_failures=settings.agent_max_task_failures,
            waiting_recheck_s=settings.agent_waiting_recheck_s,
        ),
        clock,
        on_change=agents.hub.publish,
    )
    runtime.run_moved = partial(turn_run_moved, agents)  # a waiting turn's run moved: wake its agent
    return agents.executor


def _memory_parts(
    settings: Settings,
    models: ModelRegistry,
    store: EventStore,
    owner: str,
    tg: asyncio.TaskGroup,
    agents: Agents,
    broker: Broker,
) -> tuple[MemoryApp, MemoryScheduler, MemoryContexts, list[Tool]]:
    """Memory's use cases, its compaction scheduler, the turn contexts and the model's tools.
    Agents reach memory by their thread (requests by agent id resolve through the agent store)
    and an agent's memory policy may lower its turns' context budget."""
    memory_store = open_memory_store(store)
    counter = memory_token_counter(settings)
    compactor = Compactor(
        memory_store,
        models,
        counter,
        owner,
        CompactionSettings(model=settings.memory_model, job_ttl=timedelta(seconds=settings.memory_job_ttl_s)),
        clock=agents.clock,
    )
    memory = MemoryApp(
        memory_store,
        compactor,
        lambda job: _spawn(tg, job),
        agents=agents.store,
        broker=broker,  # the `memory_query` tool waits on its question's appends
        recheck_s=max(settings.stream_poll_s, 1.0),
    )
    scheduler = MemoryScheduler(compactor, settings.memory_tick_s)
    contexts = MemoryContexts(
        memory_store,
        counter,
        settings.memory_context_budget,
        model_budgets=dict(settings.memory_context_budgets),
        hot_budget_tokens=compactor.settings.policy.hot_budget_tokens,
        on_hot_window_full=scheduler.wake,
        run_policy=lambda run_id: turn_memory_policy(agents, run_id),
    )
    tools = [memory_expand_tool(memory_store), memory_query_tool(memory)]
    return memory, scheduler, contexts, tools


def _spawn(tg: asyncio.TaskGroup, job: Coroutine[Any, Any, None]) -> None:
    """Memory's background jobs (a forced compaction, a map/reduce question) in the server's
    TaskGroup; each catches its own failures (app/memory_api.py)."""
    tg.create_task(job, name="memory-job")


def memory_token_counter(settings: Settings) -> TokenCounter:
    """tiktoken when RUNTIME_MEMORY_ENCODING names a known encoding whose file is in
    RUNTIME_MEMORY_TIKTOKEN_DIR (read here, verified by its SHA-256), else the byte estimate."""

    def read_cached(name: str) -> bytes | None:
        if not settings.memory_tiktoken_dir:
            return None
        path = Path(settings.memory_tiktoken_dir) / name
        return path.read_bytes() if path.is_file() else None

    return counter_for(settings.memory_encoding or None, read_cached)


def _grpc_server(
    settings: Settings,
    env: Mapping[str, str],
    keyring: Keyring,
    parts: _Components,
    readiness: Readiness,
    grpc_health: health.aio.HealthServicer,
) -> grpc.aio.Server:
    """The gRPC server with its interceptors, services and reflection (not yet listening)."""
    server = grpc.aio.server(
        # Metrics first (they count refused calls too), then trace spans, then the token check.
        interceptors=[
            MetricsInterceptor(),
            *tracing.server_interceptors(),
            ServiceTokenInterceptor(
                keyring,
                AuthReads(parts.runtime.store, parts.workers.store, parts.agents.store, parts.memory.store),
                policy=TokenPolicy.from_env(env),
            ),
        ],
        options=[
            ("grpc.so_reuseport", 0),
            # gRPC refuses metadata between its soft (8 KiB) and hard limits at
            # random; Envoy already caps request headers at 8 KiB (431), and a
            # transcoded request carries its path twice (x-envoy-original-path).
            ("grpc.max_metadata_size", 64 * 1024),
            ("grpc.absolute_max_metadata_size", 64 * 1024),
        ],
    )
    run_service_pb2_grpc.add_RunServiceServicer_to_server(RunService(parts.runtime), server)
    codex_worker_service_pb2_grpc.add_CodexWorkerServiceServicer_to_server(
        CodexWorkerService(parts.workers), server
    )
    sync_service_pb2_grpc.add_SyncServiceServicer_to_server(
        SyncService(parts.sync.store, parts.sync.feed, poll_s=settings.stream_poll_s), server
    )
    artifact_service_pb2_grpc.add_ArtifactServiceServicer_to_server(ArtifactService(parts.artifacts), server)
    agent_service = AgentService(parts.agents, parts.runtime)
    agent_service_pb2_grpc.add_AgentServiceServicer_to_server(agent_service, server)
    memory_service_pb2_grpc.add_MemoryServiceServicer_to_server(MemoryService(parts.memory), server)
    health_service_pb2_grpc.add_HealthServiceServicer_to_server(HealthService(readiness), server)
    health_pb2_grpc.add_HealthServicer_to_server(grpc_health, server)
    reflection.enable_server_reflection(
        (
            run_service_pb2.DESCRIPTOR.services_by_name["RunService"].full_name,
            "openagents.runtime.v1.HealthService",
            "openagents.runtime.v1.CodexWorkerService",
            "openagents.runtime.v1.SyncService",
            "openagents.runtime.v1.ArtifactService",
            "openagents.runtime.v1.AgentService",
            "openagents.runtime.v1.MemoryService",
            "grpc.health.v1.Health",
            reflection.SERVICE_NAME,
        ),
        server,
    )
    return server


def async_projections(settings: Settings) -> list[Projection[Any]]:
    """The projections this replica's projector keeps: the thread messages and the artifact
    index always (thread history and ListArtifacts read them), Laravel's read models unless
    turned off (RUNTIME_READ_MODELS=0)."""
    return [THREAD_MESSAGES, ARTIFACT_INDEX, *([LARAVEL_READ_MODELS] if settings.read_models else [])]


def _start_background_loops(
    tg: asyncio.TaskGroup, parts: _Components, settings: Settings
) -> list[asyncio.Task[None]]:
    """Claiming, lease keeping, stream polling and the async projections; after the first
    claim, so runs this replica held are resumed before it takes new ones."""
    coordinator = parts.coordinator
    return [
        tg.create_task(coordinator.claim_loop(), name="lease-claimer"),
        tg.create_task(coordinator.keep_loop(), name="lease-keeper"),
        tg.create_task(coordinator.poll_loop(), name="stream-poller"),
        tg.create_task(parts.agent_executor.claim_loop(), name="agent-claimer"),
        tg.create_task(parts.agent_executor.keep_loop(), name="agent-lease-keeper"),
        tg.create_task(parts.agent_executor.poll_loop(), name="agent-poller"),
        # Async projections (lag: projector.lag()), and the sampled drift check of the
        # Laravel read models (the oa_runtime_read_model_drift gauge; repairs nothing).
        tg.create_task(parts.projector.run(), name="projector"),
        # Compacts memory-enabled threads every RUNTIME_MEMORY_TICK_S (app/memory.py).
        tg.create_task(parts.memory_scheduler.run(), name="memory-compaction"),
        *(
            [tg.create_task(DriftSampler(parts.runtime.store).run(), name="read-model-drift")]
            if settings.read_models
            else []
        ),
        # The sync documents (Subscribe) and, when a sink is configured, their pusher.
        *([tg.create_task(parts.sync.run(), name="sync-projector")] if settings.sync_documents else []),
        *([tg.create_task(parts.sink.run(), name="sync-sink")] if parts.sink is not None else []),
        # Trims finished runs' logs below their retention floor (app/retention.py), when asked to.
        *(
            [tg.create_task(retention_loop(parts.retention, settings), name="retention")]
            if settings.retention_interval_s > 0
            else []
        ),
    ]


async def _shut_down(
    settings: Settings,
    parts: _Components,
    readiness: Readiness,
    server: grpc.aio.Server,
    background: list[asyncio.Task[None]],
) -> None:
    """The shutdown sequence (module docstring): not serving, stop claiming, hand off the
    runs, end open streams, stop the gRPC server, drain the writer, stop the loops."""
    log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
    await readiness.mark_shutting_down()
    parts.coordinator.stop()
    await parts.agent_executor.stop(settings.shutdown_grace_s)
    parts.agents.hub.close()
    handed_off = await parts.executor.handoff(settings.shutdown_grace_s)
    parts.broker.close()
    parts.workers.hub.close()
    await server.stop(settings.shutdown_grace_s)
    parts.writer.close()
    if parts.sink is not None:
        await parts.sink.stop(settings.shutdown_grace_s)
    for task in background:
        task.cancel()
    log.info("handed off", extra={"runs": handed_off})


async def _listening(
    tg: asyncio.TaskGroup, store: EventStore, owner: str, handler: ChangeHandler
) -> asyncio.Task[None]:
    """Starts the change listener and waits until it listens (and holds our
    liveness lock), so nothing is claimed before peers can see we are alive."""
    ready = asyncio.Event()
    task = tg.create_task(store.listen(owner, handler, ready.set), name="change-listener")
    waiter = asyncio.ensure_future(ready.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        waiter.cancel()
        task.result()  # raises why the listener stopped
        raise RuntimeError("the change listener stopped before it was ready")
    return task


def _signal_event() -> asyncio.Event:
    event = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, event.set)
    return event

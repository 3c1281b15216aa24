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
from collections.abc import Callable, Mapping

import grpc.aio
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from openagents.runtime.v1 import (
    codex_worker_service_pb2_grpc,
    health_service_pb2_grpc,
    run_service_pb2,
    run_service_pb2_grpc,
)

from .api.health import HealthService, Readiness
from .api.run_service import RunService, Runtime
from .api.workers import CodexWorkerService
from .app.workers import Workers
from .auth.interceptor import ServiceTokenInterceptor
from .auth.resources import AuthReads
from .auth.token import Keyring, TokenPolicy
from .config import Settings
from .core.projections import THREAD_MESSAGES
from .core.read_models import LARAVEL_READ_MODELS
from .engine.broker import Broker
from .engine.coordinator import CoordinationSettings, Coordinator
from .engine.executor import LeasePolicy, RunExecutor, run_workloads
from .engine.projector import Projector
from .engine.run_loop import RunDeps
from .engine.writer import EventWriter
from .models.registry import ModelRegistry
from .observability import tracing
from .observability.grpc_metrics import MetricsInterceptor
from .observability.metrics import MetricsListener
from .ports import EventStore
from .store import open_store
from .store.workers import open_worker_store
from .tools.builtin import BUILTIN_TOOLS

log = logging.getLogger(__name__)


async def serve(
    settings: Settings,
    *,
    environ: Mapping[str, str] | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Runs until `stop` is set (or SIGTERM/SIGINT when `stop` is None)."""
    env = os.environ if environ is None else environ
    keyring = Keyring.from_env(env)
    models = ModelRegistry.from_env(env)
    began = time.monotonic()
    phases: dict[str, float] = {}  # start-up time per phase, logged with "serving"

    def phase(name: str) -> None:
        phases[name + "_ms"] = round((time.monotonic() - began) * 1000 - sum(phases.values()), 1)

    tracing.configure(settings.otlp_endpoint, settings.service_name)  # off unless an endpoint is set
    metrics_listener = (
        MetricsListener(settings.metrics_host, settings.metrics_port)
        if settings.metrics_port is not None
        else None
    )
    store = open_store(settings.database_url)
    await store.open()
    phase("store_open")
    stop = stop or _signal_event()
    try:
        async with asyncio.TaskGroup() as tg:
            broker = Broker(settings.subscriber_buffer)
            writer = EventWriter(
                store, broker, batch_max=settings.commit_batch_max, wait_ms=settings.commit_wait_ms
            )
            tg.create_task(writer.run(), name="writer")
            tools = BUILTIN_TOOLS.configured(settings, keyring)  # built-ins + entry points + config
            executor = RunExecutor(
                store,
                tg,
                # The lease owner is this process: the executor id names the replica
                # (its liveness lock), the suffix tells it from earlier incarnations.
                LeasePolicy(
                    f"{settings.executor_id}@{uuid.uuid4().hex[:8]}",
                    settings.lease_ttl_s,
                    settings.recovery_budget,
                ),
                run_workloads(RunDeps(store, writer, settings, tools), models),
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
            )
            projector = Projector(store, [THREAD_MESSAGES, LARAVEL_READ_MODELS])
            runtime = Runtime(store, broker, writer, executor, models, settings.sse_heartbeat_s)
            workers = Workers(
                open_worker_store(store),
                stale_after_ms=settings.worker_heartbeat_stale_after_ms,
                poll_s=None if store.single_node else settings.stream_poll_s,
                sse_heartbeat_s=settings.sse_heartbeat_s,
            )
            background = [await _listening(tg, store, settings.executor_id, coordinator)]
            phase("listen")

            grpc_health = health.aio.HealthServicer()
            readiness = Readiness(store, grpc_health, on_recovered=coordinator.wake)
            server = grpc.aio.server(
                # Metrics first (they count refused calls too), then trace spans, then the token check.
                interceptors=[
                    MetricsInterceptor(),
                    *tracing.server_interceptors(),
                    ServiceTokenInterceptor(
                        keyring, AuthReads(store, workers.store), policy=TokenPolicy.from_env(env)
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
            run_service_pb2_grpc.add_RunServiceServicer_to_server(RunService(runtime), server)
            codex_worker_service_pb2_grpc.add_CodexWorkerServiceServicer_to_server(
                CodexWorkerService(workers), server
            )
            health_service_pb2_grpc.add_HealthServiceServicer_to_server(HealthService(readiness), server)
            health_pb2_grpc.add_HealthServicer_to_server(grpc_health, server)
            reflection.enable_server_reflection(
                (
                    run_service_pb2.DESCRIPTOR.services_by_name["RunService"].full_name,
                    "openagents.runtime.v1.HealthService",
                    "openagents.runtime.v1.CodexWorkerService",
                    "grpc.health.v1.Health",
                    reflection.SERVICE_NAME,
                ),
                server,
            )
            port = server.add_insecure_port(f"{settings.grpc_host}:{settings.grpc_port}")
            await server.start()
            await readiness.refresh()
            background.append(tg.create_task(readiness.monitor(), name="readiness"))
            phase("grpc_start")
            resumed = await coordinator.claim_once()
            phase("claim")
            background += [
                tg.create_task(coordinator.claim_loop(), name="lease-claimer"),
                tg.create_task(coordinator.keep_loop(), name="lease-keeper"),
                tg.create_task(coordinator.poll_loop(), name="stream-poller"),
                # Async projections (lag: projector.lag()).
                tg.create_task(projector.run(), name="projector"),
            ]
            log.info(
                "serving",
                extra={
                    "grpc": f"{settings.grpc_host}:{port}",
                    "backend": store.backend,
                    "resumed_runs": resumed,
                    **phases,
                },
            )
            if on_ready is not None:
                on_ready(port)
            await stop.wait()

            log.info("shutting down", extra={"grace_s": settings.shutdown_grace_s})
            await readiness.mark_shutting_down()
            coordinator.stop()
            handed_off = await executor.handoff(settings.shutdown_grace_s)
            broker.close()
            workers.hub.close()
            await server.stop(settings.shutdown_grace_s)
            writer.close()
            for task in background:
                task.cancel()
            log.info("handed off", extra={"runs": handed_off})
    finally:
        await models.aclose()
        await store.close()
        if metrics_listener is not None:
            metrics_listener.close()
        if settings.otlp_endpoint:
            tracing.shutdown()
    log.info("stopped")


async def _listening(
    tg: asyncio.TaskGroup, store: EventStore, owner: str, coordinator: Coordinator
) -> asyncio.Task[None]:
    """Starts the change listener and waits until it listens (and holds our
    liveness lock), so nothing is claimed before peers can see we are alive."""
    ready = asyncio.Event()
    task = tg.create_task(store.listen(owner, coordinator, ready.set), name="change-listener")
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

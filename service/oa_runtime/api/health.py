"""HealthService (/healthz, /readyz) and the standard grpc.health.v1 status.

Readiness means "can take work": the database answers and the server is not
shutting down. A monitor task pings the database every few seconds and keeps
grpc.health.v1 (which Envoy's active health check reads) in step.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import grpc.aio
from grpc_health.v1 import health, health_pb2
from openagents.runtime.v1 import health_service_pb2, health_service_pb2_grpc

from ..core.errors import DependencyUnavailable, NotReady
from ..ports import EventStore

log = logging.getLogger(__name__)
SERVICES = ("", "openagents.runtime.v1.RunService")
PING_TIMEOUT_S = 2.0


class Readiness:
    """`on_recovered` is called when the database answers again after an outage (it
    wakes the lease claimer, which takes back the runs the outage stopped)."""

    def __init__(
        self,
        store: EventStore,
        grpc_health: health.aio.HealthServicer,
        on_recovered: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.grpc_health = grpc_health
        self.on_recovered = on_recovered
        self.shutting_down = False
        self.database_ok: bool | None = None  # None until the first check

    def check(self) -> None:
        """Raises NotReady / DependencyUnavailable unless the service can take work.

        Answers from the monitor's latest ping, so probes are fast during an outage."""
        if self.shutting_down:
            raise NotReady("the service is shutting down")
        if not self.database_ok:
            raise DependencyUnavailable("database")

    async def refresh(self) -> bool:
        try:
            async with asyncio.timeout(PING_TIMEOUT_S):  # not wait_for: it can drop a cancel (3.11)
                await self.store.ping()
            ok = not self.shutting_down
        except (DependencyUnavailable, TimeoutError):
            ok = False
        recovered = ok and self.database_ok is False
        if ok != self.database_ok:
            log.info("readiness changed", extra={"ready": ok})
        self.database_ok = ok
        status = health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in SERVICES:
            await self.grpc_health.set(service, status)
        if recovered and self.on_recovered is not None:
            self.on_recovered()
        return ok

    async def monitor(self, interval_s: float = 1.0) -> None:
        while not self.shutting_down:
            # The database may go away again while runs are being resumed: next round.
            with contextlib.suppress(DependencyUnavailable):
                await self.refresh()
            await asyncio.sleep(interval_s)

    async def mark_shutting_down(self) -> None:
        self.shutting_down = True
        for service in SERVICES:
            await self.grpc_health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)


class HealthService(health_service_pb2_grpc.HealthServiceServicer):  # type: ignore[misc]
    def __init__(self, readiness: Readiness) -> None:
        self.readiness = readiness

    async def Healthz(
        self, request: health_service_pb2.HealthzRequest, context: grpc.aio.ServicerContext
    ) -> health_service_pb2.HealthzResponse:
        return health_service_pb2.HealthzResponse(status="ok")

    async def Readyz(
        self, request: health_service_pb2.ReadyzRequest, context: grpc.aio.ServicerContext
    ) -> health_service_pb2.ReadyzResponse:
        self.readiness.check()
        return health_service_pb2.ReadyzResponse(status="ready", checks={"database": "ok", "executor": "ok"})

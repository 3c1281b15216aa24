"""HealthService (/healthz, /readyz) and the standard grpc.health.v1 status.

Readiness means "can take work": the database answers and the server is not
shutting down. A monitor task pings the database every few seconds and keeps
grpc.health.v1 (which Envoy's active health check reads) in step.
"""

from __future__ import annotations

import asyncio
import logging

import grpc.aio
from grpc_health.v1 import health, health_pb2
from openagents.runtime.v1 import health_service_pb2, health_service_pb2_grpc

from ..core.errors import DependencyUnavailable, NotReady
from ..ports import EventStore
from .errors import unary

log = logging.getLogger(__name__)
SERVICES = ("", "openagents.runtime.v1.RunService")


class Readiness:
    def __init__(self, store: EventStore, grpc_health: health.aio.HealthServicer) -> None:
        self.store = store
        self.grpc_health = grpc_health
        self.shutting_down = False
        self.database_ok = False

    async def check(self) -> None:
        """Raises NotReady / DependencyUnavailable unless the service can take work."""
        if self.shutting_down:
            raise NotReady("the service is shutting down")
        await self.store.ping()

    async def refresh(self) -> bool:
        try:
            await self.check()
            ok = True
        except (NotReady, DependencyUnavailable):
            ok = False
        if ok != self.database_ok:
            log.info("readiness changed", extra={"ready": ok})
        self.database_ok = ok
        status = health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
        for service in SERVICES:
            await self.grpc_health.set(service, status)
        return ok

    async def monitor(self, interval_s: float = 2.0) -> None:
        while not self.shutting_down:
            await self.refresh()
            await asyncio.sleep(interval_s)

    async def mark_shutting_down(self) -> None:
        self.shutting_down = True
        for service in SERVICES:
            await self.grpc_health.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)


class HealthService(health_service_pb2_grpc.HealthServiceServicer):  # type: ignore[misc]
    def __init__(self, readiness: Readiness) -> None:
        self.readiness = readiness

    @unary
    async def Healthz(
        self, request: health_service_pb2.HealthzRequest, context: grpc.aio.ServicerContext
    ) -> health_service_pb2.HealthzResponse:
        return health_service_pb2.HealthzResponse(status="ok")

    @unary
    async def Readyz(
        self, request: health_service_pb2.ReadyzRequest, context: grpc.aio.ServicerContext
    ) -> health_service_pb2.ReadyzResponse:
        await self.readiness.check()
        return health_service_pb2.ReadyzResponse(status="ready", checks={"database": "ok", "executor": "ok"})

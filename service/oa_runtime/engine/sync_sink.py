"""Pushes the sync documents to the HTTP sink: one replica at a time, under a lease.

The pusher holds the sink's lease (store `claim_sink`: a row with an owner, an expiry and a
fencing token that grows per claim, like a run's lease), renews it every third of its TTL, and
loops: the next documents past the sink's checkpoint that the sink has not acknowledged at the
same seq, version and hash (`sink_batch`; the others are skipped), one POST, and, only once the
sink answered 2xx, the acknowledgements and the new checkpoint in one transaction fenced by the
token (`ack_sink`). A failed POST (5xx, 429, timeouts, refused connections) is retried with
full-jitter exponential backoff; a 4xx other than 408/429 too, logged as an error (the sink
refuses us: a configuration problem), never skipped. Delivery is at least once: a replica that
dies between the sink's answer and its own commit pushes that batch again, and the sink's upsert
by document and version makes the repeat harmless (protocol: docs/SYNC.md).

The auth header's value is a secret: it goes only into the request, never into a log line.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..core.errors import DependencyUnavailable
from ..core.sync import KINDS, SinkBatch, SinkLeaseLost, backoff_s
from ..observability import metrics
from ..ports import SyncStore
from .sync_projector import SyncFeed

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)
PROTOCOL_VERSION = 1
SINK_NAME = "default"


@dataclass(frozen=True)
class SinkConfig:
    url: str
    auth_header: str = "Authorization"
    auth_value: str = field(default="", repr=False)  # a secret: never printed
    timeout_s: float = 10.0
    batch: int = 200
    lease_ttl_s: float = 10.0
    idle_s: float = 0.2
    backoff_base_s: float = 0.2
    backoff_cap_s: float = 30.0


class SinkRefused(Exception):
    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class HttpDocumentSink:
    """POSTs batches of documents (docs/SYNC.md); raises SinkRefused unless the sink answers 2xx."""

    def __init__(self, config: SinkConfig) -> None:
        import httpx  # here: a service without a sync sink starts without it (cold start)

        self._config = config
        self._http_error = httpx.HTTPError
        self._client: httpx.AsyncClient = httpx.AsyncClient(timeout=config.timeout_s)

    async def push(self, batch: SinkBatch) -> None:
        documents = [doc.to_json() for doc in batch.documents]
        key = hashlib.sha256(
            "\n".join(f"{d['id']}@{d['version']}:{d['envelope']['payload_hash']}" for d in documents).encode()
        ).hexdigest()
        headers = {"Idempotency-Key": key, "X-Sync-Protocol": str(PROTOCOL_VERSION)}
        if self._config.auth_value:
            headers[self._config.auth_header] = self._config.auth_value
        try:
            response = await self._client.post(
                self._config.url, json={"protocol": PROTOCOL_VERSION, "documents": documents}, headers=headers
            )
        except self._http_error as exc:
            raise SinkRefused(type(exc).__name__) from None
        if not 200 <= response.status_code < 300:
            raise SinkRefused(f"{response.status_code // 100}xx")

    async def aclose(self) -> None:
        await self._client.aclose()


class SinkPusher:
    def __init__(
        self, store: SyncStore, sink: HttpDocumentSink, feed: SyncFeed, config: SinkConfig, owner: str
    ) -> None:
        self._store = store
        self._sink = sink
        self._feed = feed
        self._config = config
        self._owner = owner
        self._renew_at = 0.0
        self._lag_at = 0.0
        self.pushed = 0  # documents acknowledged, for tests and the benchmark
        self.skipped = 0
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()

    async def stop(self, timeout_s: float) -> None:
        """Finishes the batch in flight (a batch the sink acknowledged is recorded, so a restart
        does not push it again), gives the lease up, and returns (at most `timeout_s`)."""
        self._stopping.set()
        try:
            async with asyncio.timeout(timeout_s):
                await self._stopped.wait()
        except TimeoutError:
            log.warning("sync sink pusher did not stop in time")

    async def run(self) -> None:
        """Until stopped or cancelled: takes the lease when free, pushes while holding it."""
        try:
            while not self._stopping.is_set():
                token = await self._claim()
                if token is None:
                    await self._pause(self._config.lease_ttl_s / 3)
                    continue
                try:
                    await self._push_while_held(token)
                except SinkLeaseLost:
                    metrics.LEASES_LOST.inc()
                    log.warning("sync sink lease lost", extra={"owner": self._owner})
                finally:
                    await self._release(token)
        finally:
            self._stopped.set()
            await self._sink.aclose()

    async def _pause(self, seconds: float) -> None:
        """Sleeps `seconds`, or less when asked to stop."""
        try:
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        except TimeoutError:
            pass

    async def _claim(self) -> int | None:
        try:
            token = await self._store.claim_sink(SINK_NAME, self._owner, self._config.lease_ttl_s)
        except DependencyUnavailable:
            return None
        self._renew_at = time.monotonic() + self._config.lease_ttl_s / 3
        return token

    async def _release(self, token: int) -> None:
        try:
            await self._store.release_sink(SINK_NAME, token)
        except Exception:  # shutting down or the database is gone: the lease expires
            log.debug("sync sink lease not released", exc_info=True)

    async def _renew(self, token: int) -> None:
        if time.monotonic() < self._renew_at:
            return
        if not await self._store.renew_sink(SINK_NAME, token, self._config.lease_ttl_s):
            raise SinkLeaseLost(SINK_NAME)
        self._renew_at = time.monotonic() + self._config.lease_ttl_s / 3

    async def _push_while_held(self, token: int) -> None:
        while not self._stopping.is_set():
            await self._renew(token)
            batch = await self._store.sink_batch(SINK_NAME, token, self._config.batch)
            if batch is None or batch.end == batch.start:
                await self._measure_lag()
                await self._feed.wait(self._config.idle_s)
                continue
            if batch.documents and not await self._deliver(batch, token):
                return  # stopping: the batch is pushed again (at least once) by the next holder
            if not await self._store.ack_sink(SINK_NAME, token, batch):
                raise SinkLeaseLost(SINK_NAME)
            self.pushed += len(batch.documents)
            self.skipped += batch.skipped
            metrics.SYNC_SINK_DOCUMENTS.labels("pushed").inc(len(batch.documents))
            metrics.SYNC_SINK_DOCUMENTS.labels("skipped").inc(batch.skipped)
            await self._measure_lag()

    async def _deliver(self, batch: SinkBatch, token: int) -> bool:
        """POSTs until the sink acknowledges, backing off between attempts (the lease is kept);
        False when asked to stop before it did."""
        attempt = 0
        while not self._stopping.is_set():
            try:
                await self._sink.push(batch)
                return True
            except SinkRefused as refused:
                attempt += 1
                metrics.SYNC_SINK_FAILURES.labels(refused.cause).inc()
                level = logging.ERROR if refused.cause == "4xx" else logging.WARNING
                log.log(
                    level,
                    "sync sink push failed; retrying",
                    extra={"cause": refused.cause, "attempt": attempt},
                )
            await self._measure_lag(force=True)
            delay = backoff_s(attempt, base_s=self._config.backoff_base_s, cap_s=self._config.backoff_cap_s)
            deadline = time.monotonic() + delay
            while (left := deadline - time.monotonic()) > 0 and not self._stopping.is_set():
                await self._pause(min(left, self._config.lease_ttl_s / 3))
                await self._renew(token)
        return False

    async def _measure_lag(self, *, force: bool = False) -> None:
        """The lag gauge per document kind, at most every second."""
        now = time.time()
        if not force and now - self._lag_at < 1.0:
            return
        self._lag_at = now
        pending = await self._store.sink_pending_since(SINK_NAME)
        for kind in KINDS:
            metrics.SYNC_SINK_LAG.labels(kind).set(max(0.0, now - pending[kind]) if kind in pending else 0.0)

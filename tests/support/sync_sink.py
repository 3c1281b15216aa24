"""A sync sink: real HTTP/1.1 on loopback, speaking the protocol in docs/SYNC.md.

It stands where the product's reactive sync store would: each POST carries a batch of
documents; the sink upserts each by document id and version `(projection_version, seq_to)`
(newer replaces, the same again is a duplicate, older is stale) and answers 200 with a result
per document. Tests script failures (`fail_next`: answer the next N requests with a status)
and read what arrived: every delivery of every (id, version), and the documents it holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from .http11 import read_request


def _version(doc: dict[str, Any]) -> tuple[int, int]:
    major, _, minor = str(doc["version"]).partition(".")
    return int(major), int(minor)


@dataclass
class SyncSink:
    """The server. Use `async with serve_sync_sink() as sink:`; `sink.url` is RUNTIME_SYNC_SINK_URL."""

    auth: str = ""  # the Authorization value it requires ("" accepts any)
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: Counter[tuple[str, str]] = field(default_factory=Counter)  # (id, version) -> times received
    statuses: list[int] = field(default_factory=list)  # every answer, in order
    failures: list[int] = field(default_factory=list)  # statuses to answer the next requests with
    headers_seen: list[dict[str, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/sync/documents"

    def fail_next(self, *statuses: int) -> None:
        self.failures.extend(statuses)

    def applied(self) -> dict[str, str]:
        """id -> the version it holds."""
        return {doc_id: doc["version"] for doc_id, doc in self.documents.items()}

    async def wait_for(self, predicate: Any, timeout_s: float = 30.0) -> None:
        """Until `predicate()` holds (checked after every request the sink answers)."""
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve_connection, "127.0.0.1", 0)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._serve_request(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _serve_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        request = await read_request(reader)
        if request is None:
            return False
        self.headers_seen.append(request.headers)
        status, answer = self._answer(request.method, request.path, request.headers, request.body)
        payload = json.dumps(answer).encode()
        top = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(payload)}"
        writer.write(top.encode() + b"\r\n\r\n" + payload)
        await writer.drain()
        self.statuses.append(status)
        self.changed.set()
        return True

    def _answer(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
        if (method, path) != ("POST", "/v1/sync/documents"):
            return 404, {"error": f"no route {method} {path}"}
        if self.auth and headers.get("authorization") != self.auth:
            return 401, {"error": "unauthorized"}
        if self.failures:
            return self.failures.pop(0), {"error": "scripted failure"}
        request = json.loads(body)
        if request.get("protocol") != 1:
            return 400, {"error": "unknown protocol"}
        return 200, {"results": [self._upsert(doc) for doc in request["documents"]]}

    def _upsert(self, doc: dict[str, Any]) -> dict[str, str]:
        self.deliveries[(doc["id"], doc["version"])] += 1
        held = self.documents.get(doc["id"])
        if held is None or _version(doc) > _version(held):
            self.documents[doc["id"]] = doc
            status = "applied"
        elif _version(doc) == _version(held):
            status = "duplicate"
        else:
            status = "stale"
        return {"id": doc["id"], "version": doc["version"], "status": status}


@contextlib.asynccontextmanager
async def serve_sync_sink(auth: str = "") -> AsyncIterator[SyncSink]:
    sink = SyncSink(auth=auth)
    await sink.start()
    try:
        yield sink
    finally:
        await sink.close()

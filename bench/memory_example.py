"""`python -m bench.memory_example`: produces the README "Memory" example by running the service.

Seeds a thread (a run and 24 notes five minutes apart, from three hours ago) in a fresh SQLite
file, starts the service on it, compacts the thread over gRPC, prints a chunk and an expansion,
runs a second turn on the thread with a 2,000-token memory budget, and prints the plan that
turn recorded and the messages it stands for (rebuilt from the log and the chunk store).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from pathlib import Path

from google.protobuf import json_format
from oa_runtime.core.memory.context import ContextPlan, render_plan
from oa_runtime.core.memory.records import CHUNK_STREAM, CONTEXT_PLANNED, thread_stream
from oa_runtime.core.memory.tokens import ByteEstimator
from oa_runtime.engine.memory_context import MEMORY_INSTRUCTIONS, MemoryContexts
from oa_runtime.store import open_store
from oa_runtime.store.memory import open_memory_store
from openagents.runtime.v1 import memory_service_pb2 as pb
from openagents.runtime.v1 import memory_service_pb2_grpc as pb_grpc

from tests.e2e.helpers import events, start
from tests.support.memory import seed_past_thread
from tests.support.runtime import RuntimeHandle, running_runtime

THREAD = "t-demo"
BUDGET = 2_000


async def service_part(rt: RuntimeHandle) -> None:
    memory = pb_grpc.MemoryServiceStub(rt.channel)
    await memory.CompactMemoryNow(
        pb.CompactMemoryNowRequest(thread_id=THREAD), metadata=rt.md(thread_id=THREAD)
    )
    while True:
        listed = await memory.ListMemoryChunks(
            pb.ListMemoryChunksRequest(thread_id=THREAD, page_size=100), metadata=rt.md(thread_id=THREAD)
        )
        if len([c for c in listed.chunks if c.level == pb.MEMORY_LEVEL_L2]) == 2:
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(1)  # the day's roll-up, when due, follows the hours
    chunks = list(listed.chunks)
    first = next(c for c in chunks if c.level == pb.MEMORY_LEVEL_L1)
    got = await memory.GetMemoryChunk(
        pb.GetMemoryChunkRequest(chunk_id=first.chunk_id), metadata=rt.md(thread_id=THREAD)
    )
    print("=== CHUNK\n" + json_format.MessageToJson(got.chunk, indent=2))
    hour = [c for c in chunks if c.level == pb.MEMORY_LEVEL_L2][-1]
    expanded = await memory.ExpandMemoryChunk(
        pb.ExpandMemoryChunkRequest(chunk_id=hour.chunk_id, max_depth=1, max_items=3),
        metadata=rt.md(thread_id=THREAD),
    )
    print("=== EXPAND\n" + json.dumps(json_format.MessageToDict(expanded), indent=2))
    await start(rt, "run-2", "What did I note earlier?", thread_id=THREAD, user_id=42)
    await events(rt, "run-2")


async def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'runtime.db'}"
        await seed_past_thread(url, THREAD, "run-1")
        async with running_runtime(url, env={"RUNTIME_MEMORY_CONTEXT_BUDGET": str(BUDGET)}) as rt:
            await service_part(rt)
        store = open_store(url)
        await store.open()
        try:
            memory = open_memory_store(store)
            planned = [
                e for e in await memory.memory_events(CHUNK_STREAM, THREAD) if e.type == CONTEXT_PLANNED
            ]
            print("=== PLAN\n" + json.dumps(planned[-1].payload, indent=2))
            plan = ContextPlan.from_json(planned[-1].payload["plan"])
            contexts = MemoryContexts(memory, ByteEstimator(), BUDGET)
            raw = {e.raw.seq: e.raw for e in await contexts.recent_events(THREAD, "run-2")}
            chunks = {
                s.chunk.chunk_id: s.chunk for s in await memory.list_chunks(thread_stream(THREAD), limit=1000)
            }
            print("=== MESSAGES")
            for message in render_plan(plan, MEMORY_INSTRUCTIONS, raw, chunks):
                print(f"--- {message.role}\n{message.text}")
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())

"""kill -9 a replica (a real process) in the middle of a compaction, on SQLite and PostgreSQL:
after a restart the compaction finishes with every chunk written once, each with one
`memory.chunk_written` event, the L1 ranges tiling the thread's events with no gap."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from openagents.runtime.v1 import memory_service_pb2 as pb
from openagents.runtime.v1 import memory_service_pb2_grpc as pb_grpc

from tests.support.memory import compact_until_settled, memory_stream, seed_past_thread
from tests.support.replica import Replica

THREAD = "t-kill"
ENV = {
    "RUNTIME_SCRIPTED_MEMORY_DELAY_MS": "150",  # each summary takes a while: time to kill
    "RUNTIME_MEMORY_JOB_TTL_S": "1",  # the dead replica's job is free again after a second
    "RUNTIME_MEMORY_TICK_S": "3600",  # only CompactMemoryNow compacts here
}


async def chunks_of(replica: Replica) -> list[pb.MemoryChunk]:
    listed = await pb_grpc.MemoryServiceStub(replica.channel).ListMemoryChunks(
        pb.ListMemoryChunksRequest(thread_id=THREAD, page_size=500), metadata=replica.md(thread_id=THREAD)
    )
    return list(listed.chunks)


async def compact(replica: Replica) -> None:
    await pb_grpc.MemoryServiceStub(replica.channel).CompactMemoryNow(
        pb.CompactMemoryNowRequest(thread_id=THREAD), metadata=replica.md(thread_id=THREAD)
    )


async def test_kill_9_mid_compaction_loses_and_duplicates_nothing(database_url: str, tmp_path: Path) -> None:
    await seed_past_thread(database_url, THREAD, "run-kill")
    replica = Replica("mem-a", database_url, tmp_path, env=ENV)
    try:
        replica.start()
        await replica.ready()
        await compact(replica)
        async with asyncio.timeout(30):
            while True:
                if len(await chunks_of(replica)) >= 4:
                    break
                await asyncio.sleep(0.02)
        replica.kill()  # mid-way: 4+ of 14 chunks written, a summary call in flight
        replica.start()
        await replica.ready()
        written_before = len(await chunks_of(replica))
        assert 4 <= written_before < 14
        # The job is free once the dead holder's second has passed; done when nothing more is
        # due (the plan reads the stored chunks: a day's roll-up, when due, is planned).
        await compact_until_settled(replica, THREAD, within_s=60)
        chunks = await chunks_of(replica)
    finally:
        await replica.close()
    l1 = [c for c in chunks if c.level == pb.MEMORY_LEVEL_L1]
    assert len(l1) == 12 and len({c.chunk_id for c in chunks}) == len(chunks)
    ranges = [(c.seq_range.first_seq, c.seq_range.last_seq) for c in l1]
    assert ranges[0][0] == 1 and ranges[-1][1] == 25
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(ranges))
    await check_one_event_per_chunk(database_url, {c.chunk_id for c in chunks})


async def check_one_event_per_chunk(database_url: str, chunk_ids: set[str]) -> None:
    from oa_runtime.core.memory.records import CHUNK_STREAM

    audit = await memory_stream(database_url, CHUNK_STREAM, THREAD)
    written = [e.payload["chunk_id"] for e in audit if e.type == "memory.chunk_written"]
    assert sorted(written) == sorted(chunk_ids)

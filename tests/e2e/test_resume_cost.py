"""Resuming near the end of a long run reads what the rest of the stream needs, not the
whole log (issue 17 goal 2, issue 14 item 6): the SSE mapper starts from the executor's
latest step-end checkpoint at or before the cursor. Real runtime, SQLite and PostgreSQL;
events read are counted on a real store."""

from __future__ import annotations

from typing import Any, cast

from oa_runtime.api.sse import mapper_at
from oa_runtime.core import events as ev
from oa_runtime.core.frames import replay_state
from oa_runtime.core.records import StartRequest
from oa_runtime.core.validation import fingerprint
from oa_runtime.ports import AppendRequest, EventStore
from oa_runtime.store import open_store
from openagents.runtime.v1 import run_service_pb2

from tests.e2e.helpers import events, start
from tests.support.runtime import RuntimeHandle, running_runtime

PROMPT = '/tokens 300 1000\n/tool echo {"n": 1}\n/tokens 300 1000\n/tool echo {"n": 2}\n/tokens 300 1000'


class CountingStore:
    """A real store that counts the events its reads return."""

    def __init__(self, store: EventStore) -> None:
        self._store = store
        self.events_read = 0

    async def read_events(self, *args: Any, **kwargs: Any) -> list[ev.Event]:
        page = await self._store.read_events(*args, **kwargs)
        self.events_read += len(page)
        return page

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def _sse(rt: RuntimeHandle, run_id: str, cursor: int | None = None) -> bytes:
    request = run_service_pb2.StreamRunSseRequest(run_id=run_id)
    if cursor is not None:
        request.cursor = cursor
    call = rt.stub.StreamRunSse(request, metadata=rt.md(run_id=run_id))
    return b"".join([message.body.data async for message in call])


async def test_a_resume_near_the_end_folds_only_the_last_step(database_url: str) -> None:
    async with running_runtime(database_url) as rt:
        await start(rt, "long", PROMPT)
        log = await events(rt, "long")
        assert log[-1].type == "run.finished" and len(log) > 40
        step_ends = [e.seq for e in log if e.type == "step.finished"]
        assert len(step_ends) == 3
        # A cursor inside the last step's text: three events before its last delta.
        last_delta = max(e.seq for e in log if e.type == "message.delta")
        cursor = last_delta - 3
        assert step_ends[-2] < cursor
        full = await _sse(rt, "long")
        resumed = await _sse(rt, "long", cursor=cursor)
    # Through the real service: exactly the frames of the events after the cursor.
    blocks = full.split(b"\n\n")
    start_at = next(i for i, b in enumerate(blocks) if b.startswith(f"id: {cursor}\n".encode())) + 1
    assert resumed == b": ok\n\n" + b"\n\n".join(blocks[start_at:])

    store = open_store(database_url)
    await store.open()
    try:
        counting = CountingStore(store)
        mapper = await mapper_at(cast(EventStore, counting), "long", cursor)
        all_events = await store.read_events("long", 0, 10_000)
    finally:
        await store.close()
    # From the checkpoint at the end of step 2, not from seq 1.
    assert counting.events_read == cursor - step_ends[-2]
    assert counting.events_read < cursor / 3
    reference = replay_state(all_events, up_to_seq=cursor)
    rest = all_events[cursor:]
    assert [f for e in rest for f in mapper.feed(e)] == [f for e in rest for f in reference.feed(e)]


async def test_an_unreadable_checkpoint_falls_back_to_the_fold(database_url: str) -> None:
    store = open_store(database_url)
    await store.open()
    try:
        request = StartRequest(run_id="odd", thread_id="th-odd", prompt="x")
        await store.create_run(request, fingerprint(request), ev.run_accepted("th-odd", "s", "m"))
        more = [
            ev.run_started("x", 1),
            ev.step_started(1),
            *(ev.message_delta("txt-s1", "t ") for _ in range(5)),
        ]
        await store.append_many([AppendRequest("odd", more)])
        await store.save_checkpoint("odd", 4, {"written_by": "something else"})
        mapper = await mapper_at(store, "odd", 6)
        log = await store.read_events("odd", 0)
    finally:
        await store.close()
    reference = replay_state(log, up_to_seq=6)
    assert [f for e in log[6:] for f in mapper.feed(e)] == [f for e in log[6:] for f in reference.feed(e)]


async def test_a_reconnect_to_a_long_answer_being_written_reads_only_the_tail(database_url: str) -> None:
    """A live run in its first step (no checkpoint yet) writing a long text: resuming three
    events before its head reads those events and the run row, not the 2,000 before."""
    store = open_store(database_url)
    await store.open()
    try:
        request = StartRequest(run_id="live", thread_id="th-live", prompt="x")
        await store.create_run(request, fingerprint(request), ev.run_accepted("th-live", "s", "m"))
        await store.append_many([AppendRequest("live", [ev.run_started("x", 1), ev.step_started(1)])])
        for i in range(0, 2000, 500):
            deltas = [ev.message_delta("txt-s1", f"t{j} ") for j in range(i, i + 500)]
            await store.append_many([AppendRequest("live", deltas)])
        log = await store.read_events("live", 0, 10_000)
        head = log[-1].seq
        counting = CountingStore(store)
        near_head = await mapper_at(cast(EventStore, counting), "live", head - 3)
        near_head_reads = counting.events_read
        # Deeper than a page from the head: the certificate is not tried, the log is folded.
        deep = await mapper_at(cast(EventStore, counting), "live", head - 600)
        # A cancel after the cursor: the events to the head are not all deltas any more.
        await store.request_cancel("live", ev.cancel_requested("stop"))
        log = await store.read_events("live", 0, 10_000)
        after_cancel = await mapper_at(store, "live", head - 3)
    finally:
        await store.close()
    assert near_head_reads == 4
    for cursor, mapper in ((head - 3, near_head), (head - 600, deep), (head - 3, after_cancel)):
        reference = replay_state(log, up_to_seq=cursor)
        rest = log[cursor:]
        assert [f for e in rest for f in mapper.feed(e)] == [f for e in rest for f in reference.feed(e)], (
            cursor
        )

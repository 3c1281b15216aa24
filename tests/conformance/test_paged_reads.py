"""The reads a stream makes, on SQLite and PostgreSQL: read_events with `max_chars` (a page
bounded by payload size as well as by count: what a stream holds in memory),
latest_checkpoint `at_or_before` a seq (where a resumed stream starts folding) and run_state
(the run row's folded state: the mapper of a stream resumed at the head)."""

from __future__ import annotations

from oa_runtime.core import events as ev
from oa_runtime.core.run_state import fold
from oa_runtime.ports import AppendRequest, EventStore

from .helpers import append, new_run

BIG = 10_000  # characters of one big delta


async def _run_with(store: EventStore, deltas: list[str]) -> str:
    run_id = await new_run(store)
    await append(store, AppendRequest(run_id, [ev.message_delta("m1", d) for d in deltas]))
    return run_id


async def test_a_page_stops_before_its_payload_budget(store: EventStore) -> None:
    run_id = await _run_with(store, ["x" * BIG] * 7)
    everything = await store.read_events(run_id, 1)
    assert len(everything) == 7
    page = await store.read_events(run_id, 1, limit=100, max_chars=int(BIG * 2.5))
    assert page == everything[:2]
    assert await store.read_events(run_id, 1, limit=1, max_chars=BIG * 100) == everything[:1]


async def test_an_event_bigger_than_the_budget_still_comes_alone(store: EventStore) -> None:
    run_id = await _run_with(store, ["y" * BIG, "small"])
    page = await store.read_events(run_id, 1, max_chars=100)
    assert [e.payload["delta"] for e in page] == ["y" * BIG]
    rest = await store.read_events(run_id, page[-1].seq, max_chars=100)
    assert [e.payload["delta"] for e in rest] == ["small"]


async def test_paging_by_budget_reads_every_event_once_in_order(store: EventStore) -> None:
    deltas = [("z" * (n * 997 % BIG)) or "." for n in range(40)]
    run_id = await _run_with(store, deltas)
    seen: list[ev.Event] = []
    pages = 0
    while True:
        page = await store.read_events(run_id, seen[-1].seq if seen else 0, limit=16, max_chars=3 * BIG)
        if not page:
            break
        pages += 1
        seen += page
    assert seen == await store.read_events(run_id, 0)
    assert pages > 41 // 16 + 1  # the budget, not only the count, ended pages


async def test_the_latest_checkpoint_at_or_before_a_seq(store: EventStore) -> None:
    run_id = await new_run(store)
    for seq in (5, 9, 7):
        await store.save_checkpoint(run_id, seq, {"last_seq": seq})
    found = [await store.latest_checkpoint(run_id, at_or_before=n) for n in (4, 5, 6, 8, 9, 100)]
    assert [c.covers_seq if c else None for c in found] == [None, 5, 5, 7, 9, 9]
    latest = await store.latest_checkpoint(run_id)
    assert latest is not None and latest.covers_seq == 9 and latest.state == {"last_seq": 9}


async def test_run_state_is_the_fold_of_the_log(store: EventStore) -> None:
    assert await store.run_state("no-such-run") is None
    run_id = await new_run(store)
    await append(
        store,
        AppendRequest(
            run_id,
            [
                ev.run_started("x", 1),
                ev.step_started(1),
                ev.message_delta("txt-s1", "Hel"),
                ev.message_delta("txt-s1", "lo"),
            ],
        ),
    )
    state = await store.run_state(run_id)
    assert state == fold(await store.read_events(run_id, 0))
    assert state is not None and state.open_text_id == "txt-s1" and state.last_seq == 5
    await append(
        store, AppendRequest(run_id, [ev.message_completed("txt-s1", "Hello"), ev.step_finished(1, "stop")])
    )
    state = await store.run_state(run_id)
    assert state == fold(await store.read_events(run_id, 0))
    assert state is not None and [m.content for m in state.transcript] == ["Hello"]

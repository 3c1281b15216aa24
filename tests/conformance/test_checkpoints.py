"""Checkpoints conformance, on SQLite and PostgreSQL."""

from __future__ import annotations

from oa_runtime.ports import EventStore

from .helpers import new_run


async def test_the_latest_checkpoint_wins(store: EventStore) -> None:
    run_id = await new_run(store)
    assert await store.latest_checkpoint(run_id) is None

    await store.save_checkpoint(run_id, 5, {"last_seq": 5})
    await store.save_checkpoint(run_id, 9, {"last_seq": 9, "nested": {"a": [1, 2]}})
    await store.save_checkpoint(run_id, 7, {"last_seq": 7})

    latest = await store.latest_checkpoint(run_id)
    assert latest is not None
    assert (latest.run_id, latest.covers_seq) == (run_id, 9)
    assert latest.state == {"last_seq": 9, "nested": {"a": [1, 2]}}

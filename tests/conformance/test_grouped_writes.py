"""Writes issued concurrently (which a store may group into one transaction) still
succeed or fail one by one: a failing write takes none of the others down."""

from __future__ import annotations

import asyncio
import time

from oa_runtime.core import events as ev
from oa_runtime.core.errors import RunAlreadyExists
from oa_runtime.core.records import CreateResult
from oa_runtime.ports import EventStore

from .helpers import accepted, fingerprint, new_run, start_request


async def test_concurrent_writes_fail_alone(store: EventStore) -> None:
    taken = await new_run(store, run_id="run-taken")
    clash = start_request(taken, prompt="another body")
    fresh = [start_request(f"run-fresh-{i}") for i in range(5)]
    expires = time.time() + 60
    outcomes = await asyncio.gather(
        store.use_nonce("nonce-1", expires),
        *(store.create_run(r, fingerprint(r), accepted()) for r in fresh[:2]),
        store.create_run(clash, fingerprint(clash), accepted()),
        store.use_nonce("nonce-1", expires),
        store.request_cancel("run-fresh-4", ev.cancel_requested("early")),
        *(store.create_run(r, fingerprint(r), accepted()) for r in fresh[2:]),
        return_exceptions=True,
    )
    assert outcomes[0] is True
    assert all(isinstance(o, CreateResult) and o.created for o in outcomes[1:3])
    assert isinstance(outcomes[3], RunAlreadyExists)
    assert outcomes[4] is False
    assert all(isinstance(o, CreateResult) and o.created for o in outcomes[6:])
    canceled = outcomes[-1]
    assert isinstance(canceled, CreateResult) and [e.type for e in canceled.events] == [
        ev.RUN_ACCEPTED,
        ev.CANCEL_REQUESTED,
    ]
    for request in fresh:
        assert await store.get_run(request.run_id) is not None
    record = await store.get_run(taken)
    assert record is not None and record.request.prompt == "hello"

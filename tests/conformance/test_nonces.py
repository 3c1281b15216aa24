"""Nonces conformance, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

import pytest
from oa_runtime.core.errors import InvalidToken, NotThreadOwner
from oa_runtime.core.records import NonceToSpend, StartRequest
from oa_runtime.ports import EventStore, Nonces

from .helpers import accepted, fingerprint, start_request


async def test_a_nonce_is_refused_until_it_expires(store: Nonces) -> None:
    now = time.time()
    assert await store.use_nonce("n1", now + 60)
    assert not await store.use_nonce("n1", now + 60)
    assert await store.use_nonce("n2", now + 60)

    assert await store.use_nonce("old", now - 1)  # stored already expired
    assert await store.use_nonce("old", now + 60)  # an expired nonce may be used again
    assert not await store.use_nonce("old", now + 60)


async def test_create_run_spends_the_nonce_in_its_transaction(store: EventStore) -> None:
    now = time.time()
    request = start_request("nonce-run", "thread-n")
    spend = NonceToSpend("n-create", now + 60)
    assert (await store.create_run(request, fingerprint(request), accepted("thread-n"), nonce=spend)).created
    assert spend.spent and not await store.use_nonce("n-create", now + 60)
    # A live nonce refuses the create and writes nothing (the retry of an existing run too).
    again = start_request("nonce-run-2", "thread-n")
    with pytest.raises(InvalidToken):
        await store.create_run(
            again, fingerprint(again), accepted("thread-n"), nonce=NonceToSpend("n-create", now + 60)
        )
    assert await store.get_run("nonce-run-2") is None
    with pytest.raises(InvalidToken):
        await store.create_run(
            request, fingerprint(request), accepted("thread-n"), nonce=NonceToSpend("n-create", now + 60)
        )
    # A repeat of an existing run with a fresh nonce answers the run and spends the nonce.
    repeat = NonceToSpend("n-repeat", now + 60)
    assert not (
        await store.create_run(request, fingerprint(request), accepted("thread-n"), nonce=repeat)
    ).created
    assert repeat.spent and not await store.use_nonce("n-repeat", now + 60)
    # A create refused by the store (another user's thread) leaves its nonce unspent: the edge spends it.
    other = StartRequest(
        run_id="theirs", thread_id="thread-n", user_id="user-2", prompt="hi", model="scripted"
    )
    refused = NonceToSpend("n-refused", now + 60)
    with pytest.raises(NotThreadOwner):
        await store.create_run(other, fingerprint(other), accepted("thread-n"), nonce=refused)
    assert not refused.spent and await store.use_nonce("n-refused", now + 60)

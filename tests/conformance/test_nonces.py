"""Nonces conformance, on SQLite and PostgreSQL."""

from __future__ import annotations

import time

from oa_runtime.ports import Nonces


async def test_a_nonce_is_refused_until_it_expires(store: Nonces) -> None:
    now = time.time()
    assert await store.use_nonce("n1", now + 60)
    assert not await store.use_nonce("n1", now + 60)
    assert await store.use_nonce("n2", now + 60)

    assert await store.use_nonce("old", now - 1)  # stored already expired
    assert await store.use_nonce("old", now + 60)  # an expired nonce may be used again
    assert not await store.use_nonce("old", now + 60)

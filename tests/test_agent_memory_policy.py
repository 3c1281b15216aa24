"""An agent's memory policy as stored: `enabled` round-trips, and the JSON of a policy without
it (an agent created before the field existed) is unchanged, so its fingerprint still matches
an idempotent re-create."""

from __future__ import annotations

from datetime import timedelta

from oa_runtime.core.agents.spec import MemoryPolicy


def test_enabled_round_trips_and_a_disabled_policy_keeps_its_old_json() -> None:
    on = MemoryPolicy(context_token_budget=3000, enabled=True)
    assert MemoryPolicy.from_json(on.to_json()) == on
    stored_before = {"context_token_budget": 0, "hot_window_ms": 1_800_000}
    off = MemoryPolicy.from_json(stored_before)
    assert off == MemoryPolicy(0, timedelta(minutes=30), enabled=False)
    assert off.to_json() == stored_before

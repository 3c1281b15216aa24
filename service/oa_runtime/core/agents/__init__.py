"""Long-lived agents, the pure part (issue 13): what an agent is, the events of its stream,
the fold of those events into its state, and the decisions the engine acts on.

- `spec`: an agent's definition (thread, user, model ladder, schedules, policies) and its checks.
- `events`: the agent event types and their payloads (stream kind "agent").
- `state`: `apply(state, event)`, the agent state machine; `fold`.
- `inputs`: what frames arriving while a turn runs do (enqueue, interrupt, reject, rollback).
- `schedules`: cron schedules and one-shot timers; `due_firings`.
- `supervision`: deadlines, restarts with backoff, escalation, the circuit breaker.
- `children`: the agent as the supervisor of its children (one_for_one), sub-run ids and requests.
- `loops`: loop detection over the agent's recent tool calls.
- `decide`: given the state and the time, what the engine does next.

Nothing here does I/O, awaits, or knows protobuf; docs/AGENTS.md says how the engine drives it.
"""

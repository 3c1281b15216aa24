"""An agent's children and the turns the agent executor runs: child agents and sub-runs (the
`delegate` tool), their results back to the parent, and the parent supervising them as an
OTP `one_for_one` supervisor (core/agents/children.py decides; this module carries it out).

- A child agent's turn results reach its parent as tool_result frames (idempotent by frame
  id, told before the child's turn end is recorded). Its pause or failure reaches the parent
  exactly once through the child's `stop_due` outbox (engine/agents.py `_stopped`).
- A sub-run is a run on a thread of its own, tracked in the parent's state; a watcher (engine)
  waits for its end and reports it here: one tool_result frame, a restart (the next attempt,
  `<agent>:sub:<id>:<n>`), or an escalation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from ..core.agents import events as aev
from ..core.agents.children import (
    ACTION_NONE,
    ChildFailure,
    decide_child_failure,
    decided_action,
    subrun_frame_id,
    subrun_id,
    subrun_request,
    subrun_run_id,
)
from ..core.agents.errors import AgentFailed, AgentNotFound
from ..core.agents.inputs import FrameIn, accept_frames
from ..core.agents.record import AgentRecord
from ..core.agents.spec import SUB_ID_PATTERN, AgentSpec
from ..core.agents.state import AgentState, AgentStatus, SubRun, apply
from ..core.agents.turns import frame_body, turn_request
from ..core.errors import DomainError, InvalidArgument
from ..core.events import MESSAGE_COMPLETED, NewEvent
from ..core.records import RunRecord
from ..core.validation import is_valid_id
from .agents import (
    Agents,
    cancel_timer,
    create_agent,
    require_turn,
    running_agent,
    set_timer,
    sleep_children,
    submit_frames,
)
from .runs import cancel_run, start_run
from .runtime import Runtime

SUBRUN_MODE = "run"  # delegate's `mode` for a sub-run (the default, "agent", is a child agent)


class AgentTurns:
    """The `Turns` port of the agent executor: a turn is a run on the agent's thread; a child's
    turn results and stops are told to its parent; sub-runs are started and reported."""

    def __init__(self, rt: Runtime, agents: Agents) -> None:
        self._rt = rt
        self._agents = agents
        self._store = agents.store

    async def start_turn(self, state: AgentState, run_id: str) -> None:
        turn = state.turn
        assert turn is not None and turn.run_id == run_id
        bodies = []
        for frame in turn.frames:  # each frame's body is the event at its seq
            [event] = await self._store.read_agent_events(state.agent_id, frame.seq - 1, limit=1)
            bodies.append(frame_body(event))
        await start_run(self._rt, turn_request(state, turn, bodies))

    async def cancel_turn(self, run_id: str, reason: str) -> None:
        await cancel_run(self._rt, run_id, f"agent: {reason}")

    async def turn_ended(self, state: AgentState, run_id: str, outcome: str, error_message: str) -> None:
        if state.spec is None or not state.spec.parent_agent_id:
            return
        data = {"child_agent_id": state.agent_id, "run_id": run_id, "outcome": outcome}
        if error_message:
            data["error"] = error_message
        frame_id = f"child:{run_id}"[:128]
        text = await final_text(self._rt, run_id)
        await tell_parent(self._agents, state, FrameIn(frame_id, aev.FRAME_TOOL_RESULT, text, data))

    async def agent_stopped(self, state: AgentState) -> str:
        for sub in state.subruns:
            await cancel_run(self._rt, sub.run_id, f"agent: {state.agent_id} {state.status}")
        await sleep_children(self._agents, state.agent_id)
        return await report_stop(self._agents, state)

    async def start_subrun(self, agent_id: str, sub_id: str, run_id: str) -> bool:
        record = await self._store.get_agent(agent_id)
        sub = _subrun(record, sub_id)
        if record is None or sub is None or sub.run_id != run_id:
            return False
        [started] = await self._store.read_agent_events(agent_id, sub.seq - 1, limit=1)
        try:
            await start_run(self._rt, subrun_request(record.state, sub, started.payload))
        except DomainError as err:  # the run cannot exist: the sub-run failed
            await report_subrun(self._agents, agent_id, sub_id, run_id, aev.TURN_FAILED, "", err.message)
            return False
        return True

    async def subrun_ended(self, agent_id: str, sub_id: str, run: RunRecord) -> None:
        text = await final_text(self._rt, run.run_id)
        await report_subrun(
            self._agents, agent_id, sub_id, run.run_id, run.status.value, text, run.error_message
        )


async def final_text(rt: Runtime, run_id: str) -> str:
    """The run's last completed assistant message ("" when none)."""
    texts = [
        str(e.payload.get("text", ""))
        for e in await rt.store.read_events(run_id, 0, limit=100_000)
        if e.type == MESSAGE_COMPLETED
    ]
    return texts[-1] if texts else ""


class AgentTools:
    """The backend of the agents' built-in tools (tools/builtin.py `timer_tool`, `delegate_tool`)."""

    def __init__(self, agents: Agents) -> None:
        self._agents = agents

    async def set_timer(
        self, run_id: str, timer_id: str, *, fire_at: datetime | None, after: timedelta | None, text: str
    ) -> datetime:
        return await set_timer(self._agents, run_id, timer_id, fire_at=fire_at, after=after, text=text)

    async def cancel_timer(self, run_id: str, timer_id: str) -> bool:
        return await cancel_timer(self._agents, run_id, timer_id)

    async def delegate(
        self, run_id: str, tool_call_id: str, child: str, text: str, instructions: str, mode: str = ""
    ) -> dict[str, str]:
        if mode == SUBRUN_MODE:
            return await start_subrun(self._agents, run_id, tool_call_id, text, instructions)
        if mode not in ("", "agent"):
            raise InvalidArgument("mode", "must be agent or run")
        return await delegate(self._agents, run_id, tool_call_id, child, text, instructions)


# ----- child agents -----


async def delegate(
    agents: Agents, run_id: str, tool_call_id: str, child: str, text: str, instructions: str
) -> dict[str, str]:
    """The delegate tool: the agent whose running turn `run_id` is starts (or reuses) its child
    `<agent id>.<child>` on a thread of its own and gives it `text` as a user prompt (idempotent
    per tool call). The child's turns' results come back to the parent as tool_result frames."""
    agent_id = running_agent(run_id)
    parent = require_turn(await agents.store.get_agent(agent_id), agent_id, run_id).spec
    assert parent is not None
    if not SUB_ID_PATTERN.match(child):
        raise InvalidArgument("child", "must be 1-64 characters from [A-Za-z0-9._-]")
    spec = AgentSpec(
        agent_id=f"{agent_id}.{child}",
        thread_id=f"{parent.thread_id}.{child}",
        user_id=parent.user_id,
        models=parent.models,
        instructions=instructions or parent.instructions,
        tool_policy=parent.tool_policy,
        supervision=parent.supervision,
        memory=parent.memory,
        parent_agent_id=agent_id,
    )
    await create_agent(agents, spec)
    frame_id = f"delegate:{tool_call_id}"[:128]
    await submit_frames(agents, spec.agent_id, [FrameIn(frame_id, aev.FRAME_USER_PROMPT, text)])
    return {"child_agent_id": spec.agent_id, "frame_id": frame_id}


async def tell_parent(agents: Agents, child: AgentState, frame: FrameIn) -> None:
    """Delivers `frame` to the child's parent (idempotent by its frame id); a parent that
    failed or is gone takes nothing."""
    assert child.spec is not None
    with contextlib.suppress(AgentNotFound, AgentFailed):
        await submit_frames(agents, child.spec.parent_agent_id, [frame])


async def report_stop(agents: Agents, child: AgentState) -> str:
    """The child's pause or failure (`stop_due`) to its parent, which decides on it
    (one_for_one); answers the decision ("none": no parent, a self-resuming pause, or a parent
    that is gone or failed)."""
    spec, report_id = child.spec, child.stop_due
    assert spec is not None
    if not spec.parent_agent_id or (child.pause is not None and child.pause.until is not None):
        return ACTION_NONE
    if child.status == AgentStatus.FAILED:
        reason, detail = child.failure_reason, child.error_message
    else:
        assert child.pause is not None
        reason, detail = child.pause.reason, child.pause.detail
    text = f"child agent {child.agent_id} {child.status} ({reason}): {detail}"
    data = {"child_agent_id": child.agent_id, "state": str(child.status), "reason": reason}
    failure = ChildFailure(
        child_id=child.agent_id,
        report_id=report_id,
        run_id=child.turn.run_id if child.turn else "",
        reason=reason,
        detail=detail,
        frame=FrameIn(report_id[:128], aev.FRAME_SYSTEM, text, data),
    )
    now = agents.clock()

    def decide(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        if record is None:
            raise AgentNotFound(spec.parent_agent_id)
        if record.state.status == AgentStatus.FAILED or failure.frame.frame_id in known:
            return []
        return decide_child_failure(record.state, failure, now)

    try:
        update = await agents.store.update_agent(
            spec.parent_agent_id, decide, now=now, frame_ids=[failure.frame.frame_id], claim=agents.claim()
        )
    except AgentNotFound:
        return ACTION_NONE
    agents.after_write(update.record, update.lease)
    assert update.record is not None
    return decided_action(update.record.state, report_id) or ACTION_NONE


# ----- sub-runs -----


async def start_subrun(
    agents: Agents, run_id: str, tool_call_id: str, text: str, instructions: str
) -> dict[str, str]:
    """The delegate tool in `run` mode: the running turn `run_id` starts a sub-run, a run on a
    thread of its own, identified by the tool call (idempotent); its result comes back as one
    tool_result frame `subrun:<id>`."""
    agent_id = running_agent(run_id)
    sub_id = subrun_id(run_id, tool_call_id)
    frame_id = subrun_frame_id(sub_id)
    now = agents.clock()
    thread: list[str] = []

    def decide(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        state = require_turn(record, agent_id, run_id)
        assert state.spec is not None
        thread.append(f"{state.spec.thread_id}.sub.{sub_id}")
        if not is_valid_id(thread[-1]):
            raise InvalidArgument("mode", f"the agent's thread id is too long for a sub-run's {thread[-1]!r}")
        if frame_id in known or any(x.sub_id == sub_id for x in state.subruns):
            return []  # started already (and perhaps finished)
        first = subrun_run_id(agent_id, sub_id, 1)
        return [
            aev.subrun_started(
                sub_id,
                first,
                thread[-1],
                text=text,
                instructions=instructions,
                tool_call_id=tool_call_id,
                at=now,
            )
        ]

    update = await agents.store.update_agent(agent_id, decide, now=now, frame_ids=[frame_id])
    agents.after_write(update.record)
    sub = _subrun(update.record, sub_id)
    if sub is not None and agents.executor is not None:
        agents.executor.watch_subruns(agent_id, [sub])
    return {
        "sub_run_id": sub_id,
        "run_id": sub.run_id if sub else subrun_run_id(agent_id, sub_id, 1),
        "thread_id": thread[-1] if thread else "",
        "frame_id": frame_id,
    }


def _subrun(record: AgentRecord | None, sub_id: str) -> SubRun | None:
    return None if record is None else next((x for x in record.state.subruns if x.sub_id == sub_id), None)


async def report_subrun(
    agents: Agents, agent_id: str, sub_id: str, run_id: str, outcome: str, text: str, error: str
) -> None:
    """The sub-run's attempt `run_id` ended with `outcome`: a success or a cancel is its one
    tool_result frame; a failure is the parent's to decide (restart it, or escalate)."""
    frame_id = subrun_frame_id(sub_id)
    now = agents.clock()

    def decide(record: AgentRecord | None, known: Mapping[str, str]) -> Sequence[NewEvent]:
        sub = _subrun(record, sub_id)
        if record is None or sub is None or sub.run_id != run_id:
            return []  # reported already
        state = record.state
        data: dict[str, Any] = {
            "sub_run_id": sub_id,
            "run_id": run_id,
            "outcome": outcome,
            "attempt": sub.attempt,
        }
        if error:
            data["error"] = error
        frame = FrameIn(frame_id, aev.FRAME_TOOL_RESULT, text, data)
        finished = aev.subrun_finished(sub_id, run_id, outcome, frame_id, error)
        if state.status == AgentStatus.FAILED:
            return [finished]
        if outcome == aev.TURN_FAILED:
            failure = ChildFailure(
                child_id=sub_id,
                report_id=run_id,
                run_id=run_id,
                reason="run_failed",
                detail=error or "the sub-run's run failed",
                frame=frame,
                next_run_id=subrun_run_id(agent_id, sub_id, sub.attempt + 1),
                attempt=sub.attempt,
                extra=(finished,),
            )
            return decide_child_failure(state, failure, now)
        if frame_id in known:
            return [finished]
        return [finished, *accept_frames(apply(state, finished), [frame], now).events]

    update = await agents.store.update_agent(
        agent_id, decide, now=now, frame_ids=[frame_id], claim=agents.claim()
    )
    agents.after_write(update.record, update.lease)
    sub = _subrun(update.record, sub_id)
    if sub is not None and sub.run_id != run_id and agents.executor is not None:
        agents.executor.watch_subruns(agent_id, [sub])  # restarted: its next attempt

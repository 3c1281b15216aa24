"""One run's model/tool loop, written so that every decision is recorded first.

The loop keeps a local RunState and appends events with the seq it expects to
be the run's latest; when another writer got there first (a cancel, an external
event) the append answers SeqConflict, the loop folds the new events in and
decides again. So a cancel always wins over a late result, and exactly one
`run.finished` is ever written. Every append carries the loop's lease token
(`fence`): once another replica has taken the run over, the store answers
FencedOff and this loop writes nothing more.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import Settings
from ..core import events as ev
from ..core.agents.turns import agent_of_run
from ..core.context import model_context
from ..core.errors import SeqConflict
from ..core.leases import RECOVERY_EXHAUSTED
from ..core.messages import ChatMessage, ToolCall
from ..core.records import RunRecord
from ..core.run_state import RunState, apply, fold
from ..observability import log_context, tracing
from ..ports import (
    AppendRequest,
    ArtifactStore,
    EventStore,
    ModelError,
    ModelProvider,
    ModelRequest,
)
from ..tools.registry import ToolRegistry
from .memory_context import MemoryContexts
from .model_step import ModelStep
from .thread_history import thread_history
from .tool_records import record_canceled
from .tool_tasks import ToolTaskRunner
from .writer import EventWriter

log = logging.getLogger(__name__)


class CancelSeen(Exception):
    """The run's log holds a cancel request: stop and end the run canceled."""


@dataclass
class RunDeps:
    store: EventStore
    writer: EventWriter
    settings: Settings
    tools: ToolRegistry
    artifacts: ArtifactStore  # large tool outputs go here (core/artifacts.py)
    # Threads with memory get their history assembled from it (engine/memory_context.py).
    memory: MemoryContexts | None = None


class RunLoop:
    def __init__(
        self, deps: RunDeps, record: RunRecord, provider: ModelProvider, fence: int | None = None
    ) -> None:
        self.deps = deps
        self.record = record
        self.provider = provider
        self.fence = fence
        self.state = RunState()
        self.claimed_state: RunState | None = None  # the run row as the claim returned it
        self.history: list[ChatMessage] = []
        self.steps_trace = tracing.StepTrace()
        self._starting: tuple[ev.NewEvent, ...] = ()  # run.started, when it rides with step.started
        self._provider_name = type(provider).__name__  # a bounded metric label
        log_context.bind_run(record)  # built in the run's task: its log lines carry the ids

    # ----- recording -----

    async def append(self, *events: ev.NewEvent, stop_on_cancel: bool = True) -> None:
        """Appends at the seq the loop expects. On a conflict, folds in what others
        wrote and retries; a cancel found that way raises CancelSeen (except while
        the loop is recording the cancellation itself)."""
        while True:
            request = AppendRequest(
                self.record.run_id, events, expected_previous_seq=self.state.last_seq, fence=self.fence
            )
            try:
                with tracing.commit_span(len(events)):
                    result = await self.deps.writer.append(request)
            except SeqConflict:
                await self.refresh()
                if self.state.cancel_requested and stop_on_cancel:
                    raise CancelSeen() from None
                continue
            state = self.state
            for event, seq in zip(events, result.seqs, strict=True):
                state = apply(state, event, seq)
            self.state = state
            return

    async def refresh(self) -> None:
        """Folds in events other writers appended since our last seq."""
        while True:
            page = await self.deps.store.read_events(self.record.run_id, self.state.last_seq, 1000)
            self.state = fold(page, self.state)
            if len(page) < 1000:
                return

    async def load(self) -> None:
        # The run row holds the state folded up to its last seq (written in every append's
        # transaction): the claim returns it (`claimed_state`), else one read, instead of the
        # checkpoint plus the events after it, which was most of a resume's cost (issue 17
        # goal 6). A stale copy cannot do harm: the first append would meet a SeqConflict
        # and refresh from the log.
        state, self.claimed_state = self.claimed_state, None
        state = state or await self.deps.store.run_state(self.record.run_id)
        if state is not None:
            self.state = state
        else:
            await self.refresh()
        thread_id, run_id = self.record.thread_id, self.record.run_id
        memory = self.deps.memory
        model = self.record.request.model
        remembered = None if memory is None else await memory.history(thread_id, run_id, model)
        if remembered is not None:
            self.history = remembered
        else:
            self.history = await thread_history(self.deps.store, thread_id, run_id)

    # ----- the loop -----

    async def run(self) -> None:
        executor_id = self.deps.settings.executor_id
        with tracing.run_span(self.record, executor_id), tracing.step_scope(self.steps_trace):
            await self._run()

    async def _run(self) -> None:
        await self.load()
        if self.state.is_terminal:
            return
        try:
            if self.state.cancel_requested:
                raise CancelSeen()
            started = ev.run_started(self.deps.settings.executor_id, self.state.attempt + 1)
            if self._first_thing_is_a_step():
                self._starting = (started,)  # one commit for both: one less before the first token
            else:
                await self.append(started)
            if self.state.step_open:
                # The previous executor died mid-step: close it so clients see the
                # open text part end; what it recorded is kept, the rest is redone.
                await self.append(ev.step_finished(self.state.step, ev.STEP_INTERRUPTED))
            await self._steps()
        except CancelSeen:
            await self.finish_canceled()
        except ModelError as exc:
            try:
                await self._close_step(ev.STEP_ERROR)
                await self.append(ev.run_finished(ev.OUTCOME_FAILED, "model_error", str(exc)))
            except CancelSeen:  # a cancel recorded meanwhile wins over the failure
                await self.finish_canceled()

    def _first_thing_is_a_step(self) -> bool:
        """A fresh start (no step to close, no tool call to run, steps left): `_steps` begins
        with `step.started`, so `run.started` can be committed with it."""
        state = self.state
        return not (state.step_open or state.pending_tool_calls or state.step >= self.deps.settings.max_steps)

    async def _steps(self) -> None:
        while True:
            if self.state.pending_tool_calls and not await self._run_tools(self.state.pending_tool_calls):
                # The run waits for a human (or its cancel): end the task without finishing
                # the run. A decision (or wake_at passing) starts it again.
                return
            if self.state.step >= self.deps.settings.max_steps:
                await self.append(
                    ev.run_finished(
                        ev.OUTCOME_FAILED,
                        "step_limit",
                        f"the run reached the step limit ({self.deps.settings.max_steps})",
                    )
                )
                return
            reason = await self._model_step(self.state.step + 1)
            await self.deps.store.save_checkpoint(
                self.record.run_id, self.state.last_seq, self.state.to_json()
            )
            if reason != ev.STEP_TOOL_CALLS:
                await self.append(ev.run_finished(ev.OUTCOME_SUCCEEDED, reason))
                return

    async def _model_step(self, step: int) -> str:
        self.steps_trace.begin(step)  # ends the previous step's span (its tool calls are done)
        starting, self._starting = self._starting, ()
        await self.append(*starting, ev.step_started(step))
        request = ModelRequest(
            run_id=self.record.run_id,
            model=self.record.request.model,
            step=step,
            messages=model_context(self.record.request, self.history, self.state.transcript),
            tools=self.deps.tools.specs(
                self.record.request.tool_policy, agent_turn=agent_of_run(self.record.run_id) is not None
            ),
        )
        settings = self.deps.settings
        window_s, max_s = settings.flush_window_ms / 1000, settings.flush_window_max_ms / 1000
        return await ModelStep(self, self.provider, self._provider_name, request, window_s, max_s).run()

    async def _run_tools(self, calls: Sequence[ToolCall]) -> bool:
        """Runs the calls as tool tasks (engine/tool_tasks.py). True when all have results;
        False when the run must wait for an approval or an answer."""
        done = await ToolTaskRunner(
            self, self.deps.tools, self.deps.settings, self.deps.store, self.deps.artifacts
        ).run(calls)
        if not done and self.state.cancel_requested:
            raise CancelSeen()
        return done

    async def _cancel_tool_tasks(self) -> None:
        """Records `canceled` for every open tool call once a cancel is in the log.
        finish_canceled should call this first (it is a no-op without open calls)."""
        await record_canceled(self)

    # ----- endings -----

    async def _close_step(self, reason: str, *, stop_on_cancel: bool = True) -> None:
        if self.state.step_open and not self.state.is_terminal:
            await self.append(ev.step_finished(self.state.step, reason), stop_on_cancel=stop_on_cancel)

    async def finish_canceled(self) -> None:
        await self.refresh()
        if self.state.is_terminal:
            return
        await self._cancel_tool_tasks()
        await self._close_step(ev.STEP_INTERRUPTED, stop_on_cancel=False)
        reason = ev.FINISH_ROLLED_BACK if self.state.rolled_back else "canceled"
        await self.append(ev.run_finished(ev.OUTCOME_CANCELED, reason), stop_on_cancel=False)

    async def fail(self, exc: Exception) -> None:
        """Ends the run failed{internal_error} after an unexpected exception."""
        await self.refresh()
        if not self.state.is_terminal:
            await self.append(ev.run_finished(ev.OUTCOME_FAILED, "internal_error", type(exc).__name__))

    # ----- the Workload protocol (engine/executor.py) -----

    @property
    def finished(self) -> bool:
        return self.state.is_terminal

    def checkpoint(self) -> tuple[int, dict[str, object]] | None:
        if not self.state.last_seq or self.state.is_terminal:
            return None
        return self.state.last_seq, self.state.to_json()

    async def finish_recovery_exhausted(self, attempts: int) -> None:
        """Ends a run whose executors keep dying instead of resuming it again."""
        await self.load()
        if self.state.is_terminal:
            return
        await self._close_step(ev.STEP_INTERRUPTED, stop_on_cancel=False)
        message = f"the run's executor was lost {attempts} times without progress"
        await self.append(
            ev.run_finished(ev.OUTCOME_FAILED, RECOVERY_EXHAUSTED, message), stop_on_cancel=False
        )

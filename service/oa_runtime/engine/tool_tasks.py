"""Runs one step's tool calls as tool tasks, recording every transition first.

`ToolTaskRunner.run(calls)` brings each pending call to its result, or to a durable
wait for a human:
1. Decide, from the run state alone: reject (policy, unknown tool, invalid input) with a
   result the model sees; answer a repeated call id with its first task's result; queue
   a task; resolve waits that were decided or timed out; re-run a task a crash cut off
   (idempotent tools only; others fail `interrupted`).
2. Run the runnable tasks concurrently in a TaskGroup owned by the run task, each with
   its own timeout and, for idempotent tools, retries of retryable failures. A task's
   `running` transition is durable before the tool body starts, so a crash mid-call is
   always visible in the log. Only this coroutine appends: the tasks hand it their
   transitions and progress (coalesced when frequent) through a queue.
3. Ask for the approvals and answers still needed, and report whether the run must wait.

Cancellation: CancelRun cancels the run task; the TaskGroup cancels every tool at once
and the runner records `canceled` for every open call before the cancellation goes on
(to the executor, which records the run's end). A server shutdown also cancels the run
task, but no cancel is in the log then: nothing is recorded, and the next start
resumes the run (step 1 sees the interrupted tasks).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..config import Settings
from ..core import events as ev
from ..core import tool_tasks as tt
from ..core.artifacts import offload
from ..core.messages import ToolCall
from ..observability import metrics, tracing
from ..ports import ArtifactStore, EventStore
from ..tools.policy import denial
from ..tools.registry import KIND_QUESTION, Tool, ToolContext, ToolFailed, ToolRegistry
from .tool_records import Recorder, expiry, parse_args, record_canceled, result_event

log = logging.getLogger(__name__)

RETRY_BACKOFF_S = 0.2
RETRY_BACKOFF_MAX_S = 2.0


@dataclass
class _Runnable:
    call: ToolCall
    tool: Tool
    args: dict[str, Any]
    attempt: int  # the attempt to start


@dataclass
class _Message:
    """A transition a tool task hands to the recording coroutine."""

    call_id: str
    event: ev.NewEvent
    ack: asyncio.Future[None] | None = None  # resolved once the event is durable
    final: bool = False


class ToolTaskRunner:
    def __init__(
        self,
        loop: Recorder,
        tools: ToolRegistry,
        settings: Settings,
        store: EventStore,
        artifacts: ArtifactStore,
    ) -> None:
        self.loop = loop
        self.artifacts = artifacts
        self.tools = tools
        self.settings = settings
        self.store = store

    @property
    def run_id(self) -> str:
        return self.loop.record.run_id

    async def run(self, calls: Sequence[ToolCall]) -> bool:
        """True when every call has its result; False when the run now waits for a human
        (or for its cancellation, when the refresh below found one)."""
        try:
            return await self._run(calls)
        except (Exception, asyncio.CancelledError):
            # CancelRun (task.cancel, or a cancel found by an append): close the open calls
            # first. Nothing is recorded without a cancel in the log (shutdown, outage).
            await record_canceled(self.loop)
            raise

    async def _run(self, calls: Sequence[ToolCall]) -> bool:
        while True:
            unique = list({c.id: c for c in reversed(calls)}.values())[::-1]
            immediate, runnable, to_ask = await self._plan(unique)
            if immediate:
                await self.loop.append(*immediate)
            if runnable:
                await self._execute_all(runnable)
            if to_ask:
                await self.loop.append(*to_ask)
            waits = self.loop.state.waits
            if not waits:
                return True
            # A decision may have landed while this task was still running (the API's
            # executor.start was then a no-op): look once more before letting go.
            await self.loop.refresh()
            if self.loop.state.waits == waits or self.loop.state.cancel_requested:
                return False
            calls = self.loop.state.pending_tool_calls

    # ----- 1. deciding -----

    async def _plan(
        self, calls: list[ToolCall]
    ) -> tuple[list[ev.NewEvent], list[_Runnable], list[ev.NewEvent]]:
        state = self.loop.state
        now = time.time()
        immediate: list[ev.NewEvent] = []
        runnable: list[_Runnable] = []
        to_ask: list[ev.NewEvent] = []
        for call in calls:
            tool = self.tools.get(call.name)
            task = state.task_of(call.id)
            if task is None:
                if any(m.role == "tool" and m.tool_call_id == call.id for m in state.transcript):
                    immediate.append(await self._replay(call))
                    continue
                rejection = self._rejection(call, tool)
                if rejection is not None:
                    metrics.TOOL_REJECTIONS.labels(rejection[1]).inc()
                    immediate.append(result_event(call, tool, tt.TaskState.FAILED, error=rejection))
                    continue
                assert tool is not None
                immediate.append(
                    ev.tool_task(
                        call.id,
                        call.name,
                        tt.TaskState.QUEUED,
                        tool_version=tool.version,
                        params_sha256=tt.params_sha256(call.input_json),
                    )
                )
                task_state, attempt = tt.TaskState.QUEUED, 0
            else:
                task_state, attempt = task.state, task.attempt
            if tool is None:  # registered when queued, gone after a restart with another configuration
                immediate.append(
                    result_event(
                        call,
                        None,
                        tt.TaskState.FAILED,
                        error=(f"unknown tool {call.name!r}", tt.ERR_UNKNOWN_TOOL),
                    )
                )
                continue
            if task_state.is_active and tool.kind != KIND_QUESTION:
                self._resume_interrupted(call, tool, attempt, immediate, runnable)
                continue
            self._plan_queued(call, tool, now, immediate, runnable, to_ask)
        return immediate, runnable, to_ask

    def _rejection(self, call: ToolCall, tool: Tool | None) -> tuple[str, str] | None:
        """(error text, error class) when the call must not become a task."""
        reason = denial(self.loop.record.request.tool_policy, call.name, tool)
        if reason is not None:
            return reason, tt.ERR_POLICY_DENIED
        if tool is None:
            return f"unknown tool {call.name!r}", tt.ERR_UNKNOWN_TOOL
        args, problem = parse_args(call.input_json)
        if problem:
            return problem, tt.ERR_INVALID_INPUT
        errors = tool.input.problems(args)
        if errors:
            return "invalid arguments: " + "; ".join(errors), tt.ERR_INVALID_INPUT
        return None

    def _resume_interrupted(
        self,
        call: ToolCall,
        tool: Tool,
        attempt: int,
        immediate: list[ev.NewEvent],
        runnable: list[_Runnable],
    ) -> None:
        """A task left running by an executor that stopped: run it again only when that is safe."""
        if tool.idempotent and attempt < (tool.max_attempts or 1) + 1:
            runnable.append(_Runnable(call, tool, parse_args(call.input_json)[0], attempt + 1))
            return
        text = f"the tool {call.name!r} was interrupted (the runtime restarted while it ran)"
        immediate.append(
            result_event(call, tool, tt.TaskState.FAILED, error=(text, tt.ERR_INTERRUPTED), attempt=attempt)
        )

    def _plan_queued(
        self,
        call: ToolCall,
        tool: Tool,
        now: float,
        immediate: list[ev.NewEvent],
        runnable: list[_Runnable],
        to_ask: list[ev.NewEvent],
    ) -> None:
        state = self.loop.state
        wait, decision = state.wait_of(call.id), state.decision_of(call.id)
        if tool.kind == KIND_QUESTION:
            if decision is not None:
                output = tt.canonical_json({"answer": decision.text})
                immediate.append(result_event(call, tool, tt.TaskState.SUCCEEDED, output=output, attempt=1))
            elif wait is not None:
                if wait.deadline is not None and wait.deadline <= now:
                    text = "the user did not answer in time"
                    error = (text, tt.ERR_QUESTION_TIMEOUT)
                    immediate.append(result_event(call, tool, tt.TaskState.TIMED_OUT, error=error, attempt=1))
            else:
                args, _ = parse_args(call.input_json)
                question_id = tt.question_id_for(self.run_id, call.id)
                text = str(args.get("question", ""))
                to_ask.append(ev.question_asked(question_id, call.id, text, expiry(tool, now)))
                # A question "runs" while the user thinks: its latency is the time to answer.
                to_ask.append(ev.tool_task(call.id, call.name, tt.TaskState.RUNNING, attempt=1))
            return
        if tool.requires_approval and decision is None:
            if wait is None:
                approval_id = tt.approval_id_for(self.run_id, call.id)
                to_ask.append(
                    ev.approval_requested(approval_id, call.id, call.name, call.input_json, expiry(tool, now))
                )
            elif wait.deadline is not None and wait.deadline <= now:
                immediate.append(ev.approval_decided(wait.wait_id, call.id, approved=False, timed_out=True))
                text = "nobody approved the call in time"
                immediate.append(
                    result_event(call, tool, tt.TaskState.FAILED, error=(text, tt.ERR_APPROVAL_TIMEOUT))
                )
            return
        if decision is not None and not decision.approved:
            error_class = tt.ERR_APPROVAL_TIMEOUT if decision.timed_out else tt.ERR_APPROVAL_DENIED
            text = "the user denied the call" + (f": {decision.text}" if decision.text else "")
            immediate.append(result_event(call, tool, tt.TaskState.FAILED, error=(text, error_class)))
            return
        runnable.append(_Runnable(call, tool, parse_args(call.input_json)[0], 1))

    async def _replay(self, call: ToolCall) -> ev.NewEvent:
        """One task per call id: a repeated id gets its first task's result, never a second run."""
        folder = tt.ReceiptFolder(self.run_id)
        while True:
            page = await self.store.read_events(self.run_id, folder.last_seq, 1000)
            folder.feed_all(page)
            if len(page) < 1000:
                break
        first = folder.receipts.get(call.id)
        if first is None or not first.state.is_terminal:
            text = f"tool call id {call.id!r} was already used in this run"
            return result_event(call, None, tt.TaskState.FAILED, error=(text, tt.ERR_INVALID_INPUT))
        return ev.tool_result(
            call.id,
            call.name,
            output_json=first.output_json,
            error_text=first.error_text,
            receipt={
                "state": first.state.value,
                "error_class": first.error_class,
                "attempt": first.attempts,
                "tool_version": first.tool_version,
                "params_sha256": first.params_sha256,
                "output_sha256": first.output_sha256,
                "replayed": True,
                **({"artifact": first.artifact.to_json()} if first.artifact else {}),
            },
        )

    # ----- 2. running -----

    async def _execute_all(self, runnables: list[_Runnable]) -> None:
        queue: asyncio.Queue[_Message] = asyncio.Queue()
        outstanding = len(runnables)
        window = self.settings.flush_window_ms / 1000
        failure: Exception | None = None
        # A cancellation of the run task reaches the TaskGroup, which cancels every tool at once.
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._measured(r, queue)) for r in runnables]
            try:
                while outstanding:
                    batch = [await queue.get()]
                    while not queue.empty():
                        batch.append(queue.get_nowait())
                    kept = _coalesce(batch)
                    await self.loop.append(*(m.event for m in kept))
                    for m in batch:
                        if m.ack is not None and not m.ack.done():
                            m.ack.set_result(None)
                    outstanding -= sum(1 for m in batch if m.final)
                    for m in batch:
                        if m.final:
                            metrics.count_tool_result(m.event.payload)
                    if all(m.event.type == ev.TOOL_PROGRESS for m in batch):
                        await asyncio.sleep(window)  # frequent progress: one event per window
            except Exception as exc:  # kept out of the TaskGroup, which would wrap it
                failure = exc
                for task in tasks:
                    task.cancel()
        if failure is not None:
            raise failure

    async def _measured(self, r: _Runnable, queue: asyncio.Queue[_Message]) -> None:
        """A task's attempts, counted in the queue depth and traced as one tool call."""
        metrics.TOOL_TASKS_IN_FLIGHT.inc()
        try:
            with tracing.tool_call_span(r.call.name, r.call.id):
                await self._attempts(r, queue)
        except asyncio.CancelledError:
            metrics.TOOL_CALLS.labels(r.tool.name, "canceled").inc()
            raise
        finally:
            metrics.TOOL_TASKS_IN_FLIGHT.dec()

    async def _attempts(self, r: _Runnable, queue: asyncio.Queue[_Message]) -> None:
        tool, call = r.tool, r.call
        attempts_allowed = max(tool.max_attempts or 1, r.attempt) if tool.idempotent else r.attempt
        attempt = r.attempt
        while True:
            ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            queue.put_nowait(
                _Message(
                    call.id, ev.tool_task(call.id, call.name, tt.TaskState.RUNNING, attempt=attempt), ack
                )
            )
            await ack  # durable before the body runs: a crash from here on is seen on resume
            began = time.perf_counter()
            try:
                result = await self._attempt(r, attempt, queue)
            except ToolFailed as exc:
                if exc.retryable and attempt < attempts_allowed:
                    metrics.TOOL_RETRIES.labels(tool.name).inc()
                    await asyncio.sleep(min(RETRY_BACKOFF_MAX_S, RETRY_BACKOFF_S * 2 ** (attempt - 1)))
                    attempt += 1
                    continue
                result = result_event(
                    call, tool, tt.TaskState.FAILED, error=(str(exc), exc.error_class), attempt=attempt
                )
            finally:
                metrics.observe_tool_attempt(tool.name, time.perf_counter() - began)
            queue.put_nowait(_Message(call.id, result, final=True))
            return

    async def _attempt(self, r: _Runnable, attempt: int, queue: asyncio.Queue[_Message]) -> ev.NewEvent:
        """Runs the tool once; its result event, or ToolFailed to decide on a retry."""
        tool, call = r.tool, r.call

        def progress(value: Any) -> None:
            if not tt.is_json_value(value):
                log.warning("tool progress is not JSON; dropped", extra={"tool": tool.name})
                return
            queue.put_nowait(_Message(call.id, ev.tool_progress(call.id, tt.canonical_json(value))))

        ctx = ToolContext(self.run_id, self.loop.record.thread_id, call.id, attempt, progress, self.artifacts)
        timeout_s = tool.timeout_s or self.settings.tool_timeout_s
        try:
            async with asyncio.timeout(timeout_s) as deadline:
                output = await tool.fn(dict(r.args), ctx)
        except TimeoutError:
            if not deadline.expired():
                raise ToolFailed(
                    "the tool failed: TimeoutError", error_class="exception:TimeoutError"
                ) from None
            text = f"the tool {tool.name!r} timed out after {timeout_s:g} s"
            return result_event(
                call, tool, tt.TaskState.TIMED_OUT, error=(text, tt.ERR_TIMEOUT), attempt=attempt
            )
        except ToolFailed:
            raise
        except Exception as exc:
            log.exception("tool raised", extra={"tool": tool.name, "run_id": self.run_id})
            name = type(exc).__name__
            raise ToolFailed(
                f"the tool failed unexpectedly ({name})", error_class=f"exception:{name}"
            ) from exc
        try:
            output_json = tt.canonical_json(output)
        except (TypeError, ValueError):
            text = f"the tool {tool.name!r} returned something that is not JSON"
            return result_event(
                call, tool, tt.TaskState.FAILED, error=(text, tt.ERR_BAD_OUTPUT), attempt=attempt
            )
        offloaded = offload(tool.name, call.id, output_json, self.settings.artifact_inline_max_bytes)
        if offloaded is None:
            return result_event(call, tool, tt.TaskState.SUCCEEDED, output=output_json, attempt=attempt)
        # The bytes are durable before the event that references them.
        await self.artifacts.put_content(offloaded.data)
        return result_event(
            call,
            tool,
            tt.TaskState.SUCCEEDED,
            output=offloaded.output_json,
            attempt=attempt,
            artifact=offloaded.ref,
        )


def _coalesce(batch: list[_Message]) -> list[_Message]:
    """Drops progress that a later message of the same call supersedes (latest progress wins)."""
    kept: list[_Message] = []
    seen_progress: set[str] = set()
    closed: set[str] = set()
    for m in reversed(batch):
        if m.event.type == ev.TOOL_PROGRESS:
            if m.call_id in seen_progress or m.call_id in closed:
                continue
            seen_progress.add(m.call_id)
        else:
            closed.add(m.call_id)
        kept.append(m)
    return kept[::-1]

"""What a run waits for from people: decide an approval, answer a question.

Tool tasks and their receipts are a fold of the run's events (core/tool_tasks.py);
nothing else is stored. A decision or an answer is an event appended with the seq the
fold ended at, so two racing decisions (or a decision racing the run's own timeout)
cannot both land: the loser re-folds and sees the winner. Once recorded, the run is
started on this replica (a no-op if it runs here already).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..core import events as ev
from ..core.errors import (
    AlreadyDecided,
    ApprovalNotFound,
    InvalidArgument,
    QuestionNotFound,
    RunFinished,
    SeqConflict,
)
from ..core.records import RunRecord
from ..core.tool_tasks import Receipt, ReceiptFolder
from ..core.validation import require_id
from ..ports import AppendRequest, EventStore
from .runs import get_run
from .runtime import Runtime

MAX_REASON_CHARS = 1000
MAX_ANSWER_BYTES = 64 * 1024
_READ_PAGE = 1000
_APPEND_TRIES = 20  # optimistic retries against concurrent appends (tokens of other steps)


@dataclass(frozen=True, slots=True)
class WaitOutcome:
    """The run and the tool task after a decision or an answer; `recorded` is False when the
    same decision or answer was already there (a retry)."""

    record: RunRecord | None
    receipt: Receipt
    recorded: bool


async def catch_up(store: EventStore, folder: ReceiptFolder) -> ReceiptFolder:
    """Feeds `folder` every event of its run after the ones it has seen."""
    while True:
        page = await store.read_events(folder.run_id, folder.last_seq, _READ_PAGE)
        folder.feed_all(page)
        if len(page) < _READ_PAGE:
            return folder


async def decide_approval(
    rt: Runtime, run_id: str, approval_id: str, approved: bool, reason: str
) -> WaitOutcome:
    approval_id = require_id("approval_id", approval_id)
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidArgument("reason", f"must be at most {MAX_REASON_CHARS} characters")
    record = await get_run(rt, run_id)
    wanted = "approved" if approved else "denied"

    def reply(folder: ReceiptFolder) -> tuple[Receipt, ev.NewEvent | None]:
        call_id = folder.approvals.get(approval_id)
        if call_id is None:
            raise ApprovalNotFound(record.run_id, approval_id)
        receipt = folder.receipts[call_id]
        if receipt.approval == wanted:  # the same decision again: nothing new to record
            return receipt, None
        if receipt.approval != "requested":
            raise AlreadyDecided("approval", approval_id, receipt.approval)
        return receipt, ev.approval_decided(approval_id, call_id, approved=approved, reason=reason)

    return await _record_reply(rt, record, reply)


async def answer_question(rt: Runtime, run_id: str, question_id: str, answer: str) -> WaitOutcome:
    question_id = require_id("question_id", question_id)
    if not answer:
        raise InvalidArgument("answer", "is required")
    if len(answer.encode("utf-8")) > MAX_ANSWER_BYTES:
        raise InvalidArgument("answer", f"must be at most {MAX_ANSWER_BYTES} bytes")
    record = await get_run(rt, run_id)

    def reply(folder: ReceiptFolder) -> tuple[Receipt, ev.NewEvent | None]:
        call_id = folder.questions.get(question_id)
        if call_id is None:
            raise QuestionNotFound(record.run_id, question_id)
        receipt = folder.receipts[call_id]
        if receipt.answer:
            if receipt.answer == answer:  # the same answer again: nothing new to record
                return receipt, None
            raise AlreadyDecided("question", question_id, "answered")
        if receipt.state.is_terminal:
            raise AlreadyDecided("question", question_id, receipt.state.value)
        return receipt, ev.question_answered(question_id, call_id, answer)

    return await _record_reply(rt, record, reply)


async def _record_reply(
    rt: Runtime,
    record: RunRecord,
    reply: Callable[[ReceiptFolder], tuple[Receipt, ev.NewEvent | None]],
) -> WaitOutcome:
    """Records a reply to a waiting tool call right after the log it was decided on.

    `reply` reads the folded receipts and answers the receipt it concerns and the event to
    append (None: this reply is recorded already), or raises why it cannot be recorded.
    When another writer appended first, the receipts are caught up and `reply` asked again.
    """
    folder = ReceiptFolder(record.run_id)
    for _ in range(_APPEND_TRIES):
        await catch_up(rt.store, folder)
        receipt, event = reply(folder)
        if event is None:
            return await _outcome(rt, record.run_id, receipt, recorded=False)
        _check_open(folder, receipt, record)
        if await _append_at(rt, folder, event):
            return await _outcome(rt, record.run_id, receipt, recorded=True)
    raise SeqConflict(record.run_id, folder.last_seq, folder.last_seq)


def _check_open(folder: ReceiptFolder, receipt: Receipt, record: RunRecord) -> None:
    if folder.finished:
        raise RunFinished(record.run_id, "finished")
    if receipt.state.is_terminal:
        raise AlreadyDecided("tool call", receipt.tool_call_id, receipt.state.value)


async def _append_at(rt: Runtime, folder: ReceiptFolder, event: ev.NewEvent) -> bool:
    """Appends `event` right after what `folder` has seen; False when others wrote first."""
    try:
        await rt.writer.append(AppendRequest(folder.run_id, [event], expected_previous_seq=folder.last_seq))
    except SeqConflict:
        return False
    # The run continues here; the executor ignores a run it is already executing.
    rt.executor.start(folder.run_id)
    await rt.tell_run_moved(folder.run_id)
    return True


async def _outcome(rt: Runtime, run_id: str, receipt: Receipt, *, recorded: bool) -> WaitOutcome:
    folder = await catch_up(rt.store, ReceiptFolder(run_id))
    current = folder.receipts.get(receipt.tool_call_id, receipt)
    return WaitOutcome(await rt.store.get_run(run_id), current, recorded)
